//! Checkpoints: named f32 tensors plus a JSON training state in one safetensors file.
//!
//! The state (epoch, step, random state, model name, …) is stored as a JSON string under
//! `purenoise.state` in the header's `__metadata__`, beside `purenoise.format`, so one file holds
//! both and one rename publishes both. The file is plain safetensors: PyTorch reads the tensors
//! with `safetensors.torch.load_file`.
//!
//! Two checksums in the metadata let `load` refuse a file damaged after it was written (disk,
//! copy, transfer): `purenoise.checksum.tensors` covers every tensor's name, dtype, shape and
//! data, so a corrupted tensor table (names, shapes, dtypes, offsets in the header JSON) is
//! caught as well as corrupted data; `purenoise.checksum.state` covers the state string. Files
//! written before the checksums existed (format 1 without them) are still read, with a notice.
//!
//! Saving goes through [`crate::atomic`] (temporary file, sync, rename, folder sync): a crash
//! leaves either the old file or the new one, never a torn one.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensorError, SafeTensors, View};
use xxhash_rust::xxh3::Xxh3;

use super::files::{BEST, LAST};
use crate::atomic::{self, io_hint};

/// Metadata key of the JSON training state.
pub const STATE_KEY: &str = "purenoise.state";
/// Metadata key of the format version.
pub const FORMAT_KEY: &str = "purenoise.format";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: &str = "1";
/// Metadata key of the checksum of every tensor's name, dtype, shape and data.
pub const TENSORS_CHECKSUM_KEY: &str = "purenoise.checksum.tensors";
/// Metadata key of the checksum of the state string.
pub const STATE_CHECKSUM_KEY: &str = "purenoise.checksum.state";
/// Checksum values are `xxh3-64:` and 16 hex digits, so another hash could follow later.
const CHECKSUM_PREFIX: &str = "xxh3-64:";

#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkpoint {
    /// `load` returns them sorted by name (safetensors stores them so).
    pub tensors: Vec<NamedTensor>,
    /// Free-form training state. A string under `"model"`, when present, names the model in
    /// compatibility errors.
    pub state: serde_json::Value,
}

impl Checkpoint {
    pub fn get(&self, name: &str) -> Option<&NamedTensor> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading the file failed (missing, unreadable).
    #[error("cannot read checkpoint {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    /// Writing failed at `step`; `untouched` says whether a previous file at `path` is intact.
    #[error(
        "cannot save checkpoint {}: {step}: {source}{}{}",
        path.display(),
        io_hint(source),
        if *untouched { "; any previous checkpoint there is untouched" } else { "" }
    )]
    Write {
        path: PathBuf,
        step: String,
        source: io::Error,
        untouched: bool,
    },
    /// The file (or the checkpoint being saved) is not what the format requires.
    #[error("checkpoint {}: {msg}", path.display())]
    Format { path: PathBuf, msg: String },
    /// A checksum does not match: the file was damaged after it was written. `part` is what
    /// the checksum covers; `fallback` describes the run's other checkpoint, when there is one.
    #[error(
        "checkpoint {} is corrupted: the checksum of its {part} does not match the one saved \
         with it (the file was damaged after it was written: disk, copy or transfer); {}",
        path.display(),
        fallback.as_deref().unwrap_or("restore it from a backup")
    )]
    Corrupt {
        path: PathBuf,
        part: &'static str,
        fallback: Option<String>,
    },
    /// The checkpoint does not hold the tensors a model expects.
    #[error("{0}")]
    Incompatible(Box<Incompatibility>),
}

fn format_err(path: &Path, msg: impl Into<String>) -> CheckpointError {
    CheckpointError::Format {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// Borrowed f32 data as a safetensors view, so serializing copies each tensor once.
struct F32View<'a>(&'a NamedTensor);

// safetensors stores little-endian data; the byte view below reinterprets memory as is.
#[cfg(not(target_endian = "little"))]
compile_error!("checkpoints assume a little-endian target");

impl View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.0.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(bytemuck::cast_slice(&self.0.data))
    }
    fn data_len(&self) -> usize {
        self.0.data.len() * 4
    }
}

/// Saves atomically: a failure at any step leaves any previous file at `path` intact and no
/// temporary file behind.
pub fn save(path: &Path, ckpt: &Checkpoint) -> Result<(), CheckpointError> {
    save_impl(path, ckpt, None)
}

/// Fault injection for tests: like [`save`], but writing the temporary file fails with
/// "storage full" after `limit` bytes, as on a full disk.
#[doc(hidden)]
pub fn save_with_write_limit(
    path: &Path,
    ckpt: &Checkpoint,
    limit: usize,
) -> Result<(), CheckpointError> {
    save_impl(path, ckpt, Some(limit))
}

fn save_impl(path: &Path, ckpt: &Checkpoint, limit: Option<usize>) -> Result<(), CheckpointError> {
    let bytes = serialize(path, ckpt)?;
    if path.file_name().is_none() {
        return Err(format_err(path, "the path names no file"));
    }
    atomic::write_with(path, |f| match limit {
        Some(n) if n < bytes.len() => f.write_all(&bytes[..n]).and(Err(io::Error::new(
            io::ErrorKind::StorageFull,
            "no space left on device (injected fault)",
        ))),
        _ => f.write_all(&bytes),
    })
    .map_err(|e| CheckpointError::Write {
        path: e.path,
        step: e.step,
        source: e.source,
        untouched: e.untouched,
    })
}

fn serialize(path: &Path, ckpt: &Checkpoint) -> Result<Vec<u8>, CheckpointError> {
    let mut seen = BTreeSet::new();
    for t in &ckpt.tensors {
        let n: usize = t.shape.iter().product();
        if n != t.data.len() {
            return Err(format_err(
                path,
                format!(
                    "cannot save tensor `{}`: shape {} holds {n} values but {} were given",
                    t.name,
                    shape_str(&t.shape),
                    t.data.len()
                ),
            ));
        }
        if !seen.insert(t.name.as_str()) {
            return Err(format_err(
                path,
                format!("cannot save: tensor name `{}` is used twice", t.name),
            ));
        }
    }
    let state = serde_json::to_string(&ckpt.state).map_err(|e| {
        format_err(
            path,
            format!("cannot save: the training state is not JSON: {e}"),
        )
    })?;
    let mut sorted: Vec<&NamedTensor> = ckpt.tensors.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let tensors_sum = tensors_checksum(sorted.iter().map(|t| {
        (
            t.name.as_str(),
            Dtype::F32,
            t.shape.as_slice(),
            bytemuck::cast_slice::<f32, u8>(&t.data),
        )
    }));
    let meta = HashMap::from([
        (
            STATE_CHECKSUM_KEY.to_string(),
            checksum_str(&[state.as_bytes()]),
        ),
        (TENSORS_CHECKSUM_KEY.to_string(), tensors_sum),
        (STATE_KEY.to_string(), state),
        (FORMAT_KEY.to_string(), FORMAT_VERSION.to_string()),
    ]);
    safetensors::serialize(
        ckpt.tensors.iter().map(|t| (t.name.as_str(), F32View(t))),
        Some(meta),
    )
    .map_err(|e| format_err(path, format!("cannot serialize: {e}")))
}

/// XXH3-64 of the concatenated parts, as stored in the metadata.
fn checksum_str(parts: &[&[u8]]) -> String {
    let mut h = Xxh3::new();
    for p in parts {
        h.update(p);
    }
    format!("{CHECKSUM_PREFIX}{:016x}", h.digest())
}

/// The checksum of tensors given in name order: each one's name, dtype, shape and data, every
/// variable-length field preceded by its length so that no two tables hash the same bytes.
fn tensors_checksum<'a>(
    tensors: impl Iterator<Item = (&'a str, Dtype, &'a [usize], &'a [u8])>,
) -> String {
    let mut h = Xxh3::new();
    let word = |h: &mut Xxh3, n: usize| h.update(&(n as u64).to_le_bytes());
    for (name, dtype, shape, data) in tensors {
        word(&mut h, name.len());
        h.update(name.as_bytes());
        let dtype = dtype.to_string();
        word(&mut h, dtype.len());
        h.update(dtype.as_bytes());
        word(&mut h, shape.len());
        for &d in shape {
            word(&mut h, d);
        }
        word(&mut h, data.len());
        h.update(data);
    }
    format!("{CHECKSUM_PREFIX}{:016x}", h.digest())
}

/// How a loaded checkpoint was checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verified {
    /// Both checksums match.
    Checksums,
    /// An older file without checksums: read as is.
    NoChecksums,
}

/// Reads a checkpoint and verifies its checksums; every way the file can be wrong is an error
/// naming the file. A file without checksums (an older purenoise's) is read with a one-line
/// notice on stderr.
pub fn load(path: &Path) -> Result<Checkpoint, CheckpointError> {
    let (ckpt, verified) = load_verified(path)?;
    if verified == Verified::NoChecksums {
        eprintln!(
            "note: checkpoint {} has no checksums (an older purenoise wrote it), so it is read \
             without verifying its content",
            path.display()
        );
    }
    Ok(ckpt)
}

/// [`load`] without the notice, saying how the file was checked. A corrupted `last` or `best`
/// checkpoint's error names the run's other one and whether it is intact.
pub fn load_verified(path: &Path) -> Result<(Checkpoint, Verified), CheckpointError> {
    read_verified(path).map_err(|e| match e {
        CheckpointError::Corrupt { path, part, .. } => CheckpointError::Corrupt {
            fallback: fallback(&path),
            path,
            part,
        },
        other => other,
    })
}

/// What to try when `path`, a run's `last` or `best` checkpoint, is corrupted: the other one.
fn fallback(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let other_name = match name {
        LAST => BEST,
        BEST => LAST,
        _ => return None,
    };
    let other = path.with_file_name(other_name);
    if !other.exists() {
        return Some(format!(
            "the run has no {other_name} to fall back on; restore {name} from a backup or \
             start the run over"
        ));
    }
    Some(match read_verified(&other) {
        Ok((c, _)) => {
            let epoch = c.state["position"]["epoch"]
                .as_u64()
                .map(|e| format!(" (epoch {e})"))
                .unwrap_or_default();
            let mut advice = format!(
                "the run's other checkpoint {}{epoch} is intact: use it instead",
                other.display()
            );
            if name == LAST {
                advice += &format!(
                    " (to resume from it, move {} aside, copy {other_name} to {LAST} and \
                     resume)",
                    path.display()
                );
            }
            advice
        }
        Err(e) => format!(
            "the run's other checkpoint {} cannot be used either ({e})",
            other.display()
        ),
    })
}

/// A checkpoint file's bytes (ours or PyTorch's), bounded by its real size and
/// [`MAX_CHECKPOINT_BYTES`](crate::input::MAX_CHECKPOINT_BYTES); FIFOs and devices are refused
/// before they are opened.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    crate::input::read_bounded(path, crate::input::MAX_CHECKPOINT_BYTES, "a checkpoint").map_err(
        |source| CheckpointError::Read {
            path: path.to_path_buf(),
            source,
        },
    )
}

fn read_verified(path: &Path) -> Result<(Checkpoint, Verified), CheckpointError> {
    let bytes = read_bytes(path)?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| describe(path, bytes.len(), e))?;
    let (_, meta) =
        SafeTensors::read_metadata(&bytes).map_err(|e| describe(path, bytes.len(), e))?;
    let not_ours = "not a purenoise checkpoint (a plain safetensors file of weights?)";
    let meta = meta
        .metadata()
        .as_ref()
        .ok_or_else(|| format_err(path, format!("the header has no __metadata__: {not_ours}")))?;
    match meta.get(FORMAT_KEY) {
        Some(v) if v == FORMAT_VERSION => {}
        Some(v) => {
            return Err(format_err(
                path,
                format!("format version {v}, but this build reads version {FORMAT_VERSION}"),
            ))
        }
        None => {
            return Err(format_err(
                path,
                format!("no `{FORMAT_KEY}` in the header's metadata: {not_ours}"),
            ))
        }
    }
    let state_str = meta.get(STATE_KEY).ok_or_else(|| {
        format_err(
            path,
            format!("no `{STATE_KEY}` in the header's metadata: {not_ours}"),
        )
    })?;
    // A key this build does not know is a damaged key name (which could otherwise pass a
    // checksummed file off as an older one without checksums) or a newer writer's.
    let known = [
        FORMAT_KEY,
        STATE_KEY,
        TENSORS_CHECKSUM_KEY,
        STATE_CHECKSUM_KEY,
    ];
    let mut unknown: Vec<&str> = meta
        .keys()
        .map(String::as_str)
        .filter(|k| !known.contains(k))
        .collect();
    if !unknown.is_empty() {
        unknown.sort();
        return Err(format_err(
            path,
            format!(
                "the header's metadata holds keys this build does not know ({}): the header \
                 is corrupt, or a newer purenoise wrote the file",
                unknown.join(", ")
            ),
        ));
    }

    let mut views = st.tensors();
    views.sort_by(|a, b| a.0.cmp(&b.0));
    let verified = match (meta.get(TENSORS_CHECKSUM_KEY), meta.get(STATE_CHECKSUM_KEY)) {
        (None, None) => Verified::NoChecksums,
        (Some(tensors_sum), Some(state_sum)) => {
            let found = tensors_checksum(
                views
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.dtype(), v.shape(), v.data())),
            );
            if &found != tensors_sum {
                return Err(corrupt(path, "tensor data (names, shapes and values)"));
            }
            if &checksum_str(&[state_str.as_bytes()]) != state_sum {
                return Err(corrupt(path, "training state"));
            }
            Verified::Checksums
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(format_err(
                path,
                format!(
                    "the header's metadata holds one of `{TENSORS_CHECKSUM_KEY}` and \
                     `{STATE_CHECKSUM_KEY}` without the other: the header is corrupt"
                ),
            ))
        }
    };

    let mut tensors = Vec::with_capacity(views.len());
    for (name, view) in views {
        if view.dtype() != Dtype::F32 {
            return Err(format_err(
                path,
                format!(
                    "tensor `{name}` is {}, but purenoise checkpoints hold F32 tensors only",
                    view.dtype()
                ),
            ));
        }
        tensors.push(NamedTensor {
            shape: view.shape().to_vec(),
            // Copied value by value: the data section need not be 4-byte aligned in memory.
            data: view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            name,
        });
    }
    let state = serde_json::from_str(state_str).map_err(|e| {
        format_err(
            path,
            format!("the training state (`{STATE_KEY}`) is not valid JSON: {e}"),
        )
    })?;
    Ok((Checkpoint { tensors, state }, verified))
}

fn corrupt(path: &Path, part: &'static str) -> CheckpointError {
    CheckpointError::Corrupt {
        path: path.to_path_buf(),
        part,
        fallback: None,
    }
}

pub(super) fn describe(path: &Path, len: usize, e: SafeTensorError) -> CheckpointError {
    use SafeTensorError::*;
    let torn = "the file is truncated (an interrupted copy?) or not a safetensors file";
    let msg = match e {
        HeaderTooSmall => format!("the file is {len} bytes, too short for a header: {torn}"),
        InvalidHeaderLength => {
            format!("the header length runs past the end of the file ({len} bytes): {torn}")
        }
        HeaderTooLarge => {
            "the header length is implausibly large: not a safetensors file".to_string()
        }
        MetadataIncompleteBuffer => format!(
            "the tensor data declared in the header does not match the file's size ({len} \
             bytes): {torn}"
        ),
        InvalidHeader(_) | InvalidHeaderDeserialization(_) => {
            format!("the header is not valid safetensors JSON ({e}): the file is corrupt or not a safetensors file")
        }
        other => format!("invalid safetensors file: {other}"),
    };
    format_err(path, msg)
}

/// What a checkpoint lacks, has in excess, or has in another shape, compared to a model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Incompatibility {
    /// The file, when the caller knows it (see [`check_compatible_file`]).
    pub path: Option<PathBuf>,
    /// The state's `"model"` string, if any.
    pub saved_for: Option<String>,
    pub missing: Vec<String>,
    pub unexpected: Vec<String>,
    /// (name, shape the model wants, shape in the checkpoint)
    pub shapes: Vec<(String, Vec<usize>, Vec<usize>)>,
}

fn shape_str(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(","))
}

/// At most this many names per list in the message; the rest are counted.
const LIST: usize = 5;

fn list(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(LIST)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LIST {
        s += &format!(" and {} more", names.len() - LIST);
    }
    s
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "checkpoint {} does not fit this model", p.display())?,
            None => write!(f, "the checkpoint does not fit this model")?,
        }
        match &self.saved_for {
            Some(m) => write!(f, " (it was saved for model `{m}`)")?,
            None => write!(f, " (it was saved for another model or configuration)")?,
        }
        write!(f, ":")?;
        for (name, want, found) in self.shapes.iter().take(LIST) {
            write!(
                f,
                "\n  it holds {name} with shape {}, the model wants {}",
                shape_str(found),
                shape_str(want)
            )?;
        }
        if self.shapes.len() > LIST {
            write!(
                f,
                "\n  and {} more tensors of another shape",
                self.shapes.len() - LIST
            )?;
        }
        if !self.missing.is_empty() {
            write!(
                f,
                "\n  missing {} tensors the model needs: {}",
                self.missing.len(),
                list(&self.missing)
            )?;
        }
        if !self.unexpected.is_empty() {
            write!(
                f,
                "\n  {} tensors the model does not have: {}",
                self.unexpected.len(),
                list(&self.unexpected)
            )?;
        }
        write!(
            f,
            "\nuse a checkpoint saved with the same model, batch-norm mode and number of classes"
        )
    }
}

/// Compares the checkpoint's tensors with the (name, shape) list a model expects.
pub fn check_compatible(
    expected: &[(String, Vec<usize>)],
    ckpt: &Checkpoint,
) -> Result<(), CheckpointError> {
    let found: HashMap<&str, &[usize]> = ckpt
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t.shape.as_slice()))
        .collect();
    let wanted: BTreeSet<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    let mut report = Incompatibility {
        saved_for: ckpt
            .state
            .get("model")
            .and_then(|m| m.as_str())
            .map(str::to_string),
        ..Default::default()
    };
    for (name, shape) in expected {
        match found.get(name.as_str()) {
            None => report.missing.push(name.clone()),
            Some(&s) if s != shape.as_slice() => {
                report
                    .shapes
                    .push((name.clone(), shape.clone(), s.to_vec()))
            }
            Some(_) => {}
        }
    }
    report.unexpected = ckpt
        .tensors
        .iter()
        .filter(|t| !wanted.contains(t.name.as_str()))
        .map(|t| t.name.clone())
        .collect();
    if report.missing.is_empty() && report.unexpected.is_empty() && report.shapes.is_empty() {
        Ok(())
    } else {
        Err(CheckpointError::Incompatible(Box::new(report)))
    }
}

/// [`check_compatible`] with the file named in the message.
pub fn check_compatible_file(
    path: &Path,
    expected: &[(String, Vec<usize>)],
    ckpt: &Checkpoint,
) -> Result<(), CheckpointError> {
    check_compatible(expected, ckpt).map_err(|e| match e {
        CheckpointError::Incompatible(mut r) => {
            r.path = Some(path.to_path_buf());
            CheckpointError::Incompatible(r)
        }
        other => other,
    })
}
