//! Checkpoints written elsewhere: a PyTorch state dict saved as safetensors
//! (`safetensors.torch.save_file(model.state_dict())`), turned into the same [`Checkpoint`] a
//! purenoise file gives, so `--init-from` and `eval` take either.
//!
//! What a foreign file may hold, and what becomes of it:
//! - float tensors of any width (F16, BF16, F32, F64), converted to f32;
//! - BN's integer `num_batches_tracked` counters, left out (purenoise does not use them);
//! - DataParallel's `module.` prefix, removed;
//! - SGD momentum as `momentum.<name>` (purenoise's own name) or `momentum_buffer.<name>`;
//! - `finished_epoch` (a 0-based epoch, as text) in the header's `__metadata__`, optional.
//!
//! `torch.save` archives ([`pt`]) give the same tensors: a bare state dict, or the reference's
//! checkpoint dict (`model_state_dict`, `optimizer_state_dict`'s momentum buffers,
//! `finished_epoch`).
//!
//! Files with purenoise's metadata are read by [`checkpoint::load`], unchanged.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use serde_json::json;

use super::checkpoint::{self, Checkpoint, CheckpointError, NamedTensor, FORMAT_KEY};
use super::pt;
use crate::models::BnMode;
use crate::models::ModelKind;

/// Name prefix of momentum buffers in a checkpoint.
pub const MOMENTUM: &str = "momentum.";
/// PyTorch's name for a momentum buffer (`optimizer.state[p]["momentum_buffer"]`).
const MOMENTUM_BUFFER: &str = "momentum_buffer.";
/// What `nn.DataParallel` puts before every name.
const DATA_PARALLEL: &str = "module.";
/// The one integer tensor PyTorch's batch norm keeps, which purenoise has no use for.
const BN_COUNTER: &str = "num_batches_tracked";
/// safetensors' own bound on a header (its reader refuses larger ones).
const MAX_HEADER: u64 = 100_000_000;

/// A checkpoint read from a purenoise file or a foreign one.
#[derive(Debug)]
pub struct Imported {
    pub checkpoint: Checkpoint,
    /// The file has purenoise's metadata (and so its training state).
    pub ours: bool,
    /// What was converted or left out on the way in, one line each.
    pub notes: Vec<String>,
}

/// Reads `path`: a purenoise checkpoint as [`checkpoint::load`] does, any other safetensors file
/// as a PyTorch state dict, a `torch.save` archive as a state dict or a checkpoint dict
/// ([`pt`]). A foreign file's state holds `"model"` (what its tensors look like, when that can be
/// told) and `"finished_epoch"` (when the file records one).
pub fn load(path: &Path) -> Result<Imported, CheckpointError> {
    if !foreign(path) {
        return Ok(Imported {
            checkpoint: checkpoint::load(path)?,
            ours: true,
            notes: Vec::new(),
        });
    }
    let bytes = checkpoint::read_bytes(path)?;
    let format_err = |msg: String| CheckpointError::Format {
        path: path.to_path_buf(),
        msg,
    };
    if pt::is_zip(&bytes) {
        let file = pt::read(&bytes).map_err(|msg| format_err(format!("torch.save file: {msg}")))?;
        let mut imported = convert(
            path,
            file.tensors
                .iter()
                .map(|(n, d, s, b)| (n.as_str(), *d, s.as_slice(), b.as_slice())),
            file.finished_epoch,
        )?;
        if !file.ignored.is_empty() {
            imported.notes.push(format!(
                "left out the checkpoint's {}",
                file.ignored
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        return Ok(imported);
    }
    let st =
        SafeTensors::deserialize(&bytes).map_err(|e| checkpoint::describe(path, bytes.len(), e))?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| checkpoint::describe(path, bytes.len(), e))?;
    let finished_epoch = match header
        .metadata()
        .as_ref()
        .and_then(|m| m.get("finished_epoch"))
    {
        Some(text) => Some(text.trim().parse().map_err(|_| {
            format_err(format!(
                "the metadata's `finished_epoch` is `{text}`, not a 0-based epoch number"
            ))
        })?),
        None => None,
    };
    let views: Vec<_> = st.iter().collect();
    convert(
        path,
        views
            .iter()
            .map(|(n, v)| (*n, v.dtype(), v.shape(), v.data())),
        finished_epoch,
    )
}

/// Turns a foreign file's tensors (name, dtype, shape, little-endian bytes) into a checkpoint.
fn convert<'a>(
    path: &Path,
    raw: impl Iterator<Item = (&'a str, Dtype, &'a [usize], &'a [u8])>,
    finished_epoch: Option<usize>,
) -> Result<Imported, CheckpointError> {
    let format_err = |msg: String| CheckpointError::Format {
        path: path.to_path_buf(),
        msg,
    };
    let mut tensors: BTreeMap<String, NamedTensor> = BTreeMap::new();
    let mut counters = 0;
    let mut unprefixed = 0;
    let mut converted: BTreeMap<String, usize> = BTreeMap::new();
    for (stored, dtype, shape, bytes) in raw {
        let (name, removed_prefix) = canonical(stored);
        let data = match to_f32(dtype, bytes) {
            Some(data) => data,
            None if name.rsplit('.').next() == Some(BN_COUNTER) => {
                counters += 1;
                continue;
            }
            None => {
                return Err(format_err(format!(
                    "tensor `{stored}` is {dtype}; purenoise reads float tensors (F16, BF16, F32, \
                     F64) and leaves out only batch norm's `{BN_COUNTER}`. Remove it from the \
                     file (e.g. `del state_dict[\"{stored}\"]` before saving)"
                )))
            }
        };
        if let Some(i) = overflow(dtype, bytes) {
            return Err(format_err(format!(
                "tensor `{stored}` holds a value outside f32's range (element {i}); purenoise \
                 trains in f32"
            )));
        }
        if data.len() != shape.iter().product::<usize>() {
            return Err(format_err(format!(
                "tensor `{stored}` has {} values for shape {shape:?}",
                data.len()
            )));
        }
        unprefixed += usize::from(removed_prefix);
        if dtype != Dtype::F32 {
            *converted.entry(dtype.to_string()).or_default() += 1;
        }
        let tensor = NamedTensor {
            name: name.clone(),
            shape: shape.to_vec(),
            data,
        };
        if let Some(earlier) = tensors.insert(name.clone(), tensor) {
            return Err(format_err(format!(
                "two tensors both mean `{}` (one is `{stored}`): with and without DataParallel's \
                 `{DATA_PARALLEL}` prefix, or as both `{MOMENTUM}` and `{MOMENTUM_BUFFER}`; keep \
                 one",
                earlier.name
            )));
        }
    }
    let mut notes = Vec::new();
    if counters > 0 {
        notes.push(format!(
            "left out {counters} integer `{BN_COUNTER}` tensors (batch norm's step counters, \
             which purenoise does not use)"
        ));
    }
    if unprefixed > 0 {
        notes.push(format!(
            "read {unprefixed} names without DataParallel's `{DATA_PARALLEL}` prefix"
        ));
    }
    for (dtype, n) in &converted {
        notes.push(format!("converted {n} {dtype} tensors to F32"));
    }
    let tensors: Vec<NamedTensor> = tensors.into_values().collect();
    let mut state = json!({});
    if let Ok(m) = infer_model(&tensors) {
        state["model"] = json!(format!(
            "{}, {} classes{} (told from its tensors)",
            m.kind,
            m.classes,
            if m.bn == BnMode::AuxBn { ", AuxBN" } else { "" }
        ));
    }
    if let Some(epoch) = finished_epoch {
        state["finished_epoch"] = json!(epoch);
    }
    Ok(Imported {
        checkpoint: Checkpoint { tensors, state },
        ours: false,
        notes,
    })
}

/// Whether the file is a zip archive or a safetensors file whose header lacks purenoise's format
/// key. Anything unreadable counts as ours, so that [`checkpoint::load`] reports it.
fn foreign(path: &Path) -> bool {
    let header = || -> Option<serde_json::Value> {
        // A FIFO or device is never opened here: checkpoint::load refuses it by name.
        let (mut f, _) = crate::input::open_regular(path).ok()?;
        let mut len = [0; 8];
        f.read_exact(&mut len).ok()?;
        if pt::is_zip(&len) {
            return Some(json!({}));
        }
        let len = u64::from_le_bytes(len);
        if len > MAX_HEADER {
            return None;
        }
        let mut text = vec![0; len as usize];
        f.read_exact(&mut text).ok()?;
        serde_json::from_slice(&text).ok()
    };
    header().is_some_and(|h| {
        h.get("__metadata__")
            .and_then(|m| m.get(FORMAT_KEY))
            .is_none()
    })
}

/// The name purenoise uses: without DataParallel's prefix (before or after a momentum prefix),
/// PyTorch's `momentum_buffer.` spelled `momentum.`; and whether a prefix was removed.
fn canonical(stored: &str) -> (String, bool) {
    let outer = stored.strip_prefix(DATA_PARALLEL);
    let rest = outer.unwrap_or(stored);
    let (momentum, rest) = [MOMENTUM_BUFFER, MOMENTUM]
        .iter()
        .find_map(|p| rest.strip_prefix(p))
        .map_or((false, rest), |r| (true, r));
    let inner = rest.strip_prefix(DATA_PARALLEL);
    let rest = inner.unwrap_or(rest);
    let prefix = if momentum { MOMENTUM } else { "" };
    (
        format!("{prefix}{rest}"),
        outer.is_some() || inner.is_some(),
    )
}

/// Little-endian floats of `dtype` as f32; None for a dtype that is no float.
fn to_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        _ => return None,
    })
}

/// The first F64 value that is finite but too large for f32, if any (narrower floats always fit).
fn overflow(dtype: Dtype, bytes: &[u8]) -> Option<usize> {
    if dtype != Dtype::F64 {
        return None;
    }
    bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
        .position(|v| v.is_finite() && !(v as f32).is_finite())
}

/// A model as its tensors show it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Inferred {
    pub kind: ModelKind,
    pub classes: usize,
    /// AuxBN when the file has auxiliary (`_noise`) batch norms; otherwise standard, which
    /// stores the same tensors as DAR-BN (the two differ only on batches with noise).
    pub bn: BnMode,
}

/// Tells the model from the tensors' names and shapes: a WideResNet (torchdistill: `fc`, whose
/// input width is 64·k) or a CIFAR ResNet (akamaster: `linear`, 64 wide), with depth from the
/// blocks in `layer1` and the class count from the classifier's rows.
pub fn infer_model(tensors: &[NamedTensor]) -> Result<Inferred, String> {
    let model: Vec<&NamedTensor> = tensors
        .iter()
        .filter(|t| !t.name.starts_with(MOMENTUM))
        .collect();
    let shape = |name: &str| {
        model
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.shape.as_slice())
    };
    let blocks = model
        .iter()
        .filter_map(|t| t.name.strip_prefix("layer1.")?.split('.').next())
        .filter_map(|i| i.parse::<usize>().ok())
        .collect::<BTreeSet<_>>()
        .len();
    let bn = if model.iter().any(|t| t.name.contains("_noise.")) {
        BnMode::AuxBn
    } else {
        BnMode::Standard
    };
    let no_blocks = || {
        "it has no `layer1.<i>.` blocks, so its depth cannot be told; name the model with \
         --model"
            .to_string()
    };
    match (shape("fc.weight"), shape("linear.weight")) {
        (Some(&[classes, width]), _) if width % 64 == 0 && width > 0 => {
            if blocks == 0 {
                return Err(no_blocks());
            }
            Ok(Inferred {
                kind: ModelKind::Wrn {
                    depth: 6 * blocks + 4,
                    widen: width / 64,
                },
                classes,
                bn,
            })
        }
        (None, Some(&[classes, 64])) => {
            if blocks == 0 {
                return Err(no_blocks());
            }
            Ok(Inferred {
                kind: ModelKind::ResNet {
                    depth: 6 * blocks + 2,
                },
                classes,
                bn,
            })
        }
        (Some(s), _) | (None, Some(s)) => Err(format!(
            "its classifier has shape {s:?}, which fits neither a WideResNet (`fc.weight` \
             [classes, 64·k]) nor a CIFAR ResNet (`linear.weight` [classes, 64])"
        )),
        (None, None) => Err(
            "it has neither `fc.weight` (a torchdistill WideResNet) nor `linear.weight` (an \
             akamaster CIFAR ResNet), the layouts purenoise reads"
                .into(),
        ),
    }
}

/// The first epoch a run continuing this checkpoint trains, when the checkpoint says: a purenoise
/// checkpoint's position (the epoch it was in; `true` when it stopped part-way through it), or a
/// foreign file's `finished_epoch` + 1.
pub fn next_epoch(ckpt: &Checkpoint) -> Option<(usize, bool)> {
    if let Some(epoch) = ckpt.state["position"]["epoch"].as_u64() {
        let partial = ckpt.state["position"]["batch"].as_u64().unwrap_or(0) > 0;
        return Some((epoch as usize, partial));
    }
    let finished = usize::try_from(ckpt.state["finished_epoch"].as_u64()?).ok()?;
    Some((finished.checked_add(1)?, false))
}
