//! Moving a model's state between the GPU and checkpoint tensors: parameters and BN buffers
//! under their PyTorch names, momentum buffers under `momentum.<name>`.

use std::fmt;
use std::path::Path;

use super::checkpoint::{check_compatible_file, Checkpoint, NamedTensor};
use super::error::Result;
use super::import::MOMENTUM;
use crate::gpu::tensor::Tensor;
use crate::gpu::Gpu;
use crate::models::Model;

/// Whether [`restore`] loads the SGD momentum buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Momentum {
    /// Every parameter's momentum must be in the file (`--resume`).
    Require,
    /// Loaded when the file holds momentum (then for every parameter), else left at zero
    /// (`--init-from`).
    IfPresent,
    /// Momentum in the file is ignored (`--weights-only`, `eval`).
    Skip,
}

/// What [`restore`] loaded: tensor counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    pub params: usize,
    pub buffers: usize,
    pub momentum: usize,
}

impl fmt::Display for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} parameter tensors, {} BN buffers, momentum for {} parameters",
            self.params, self.buffers, self.momentum
        )
    }
}

/// (name, tensor) of everything a checkpoint holds, in a fixed order.
fn tensors(model: &Model, with_momentum: bool) -> Vec<(String, Tensor)> {
    let p = &model.params;
    let mut out: Vec<(String, Tensor)> = p
        .ids()
        .map(|id| (p.name(id).to_string(), p.value(id)))
        .collect();
    out.extend(p.buffers().map(|(n, t)| (n.to_string(), t.clone())));
    if with_momentum {
        out.extend(
            p.ids()
                .map(|id| (format!("{MOMENTUM}{}", p.name(id)), p.momentum(id))),
        );
    }
    out
}

pub fn snapshot(gpu: &Gpu, model: &Model, with_momentum: bool) -> Result<Vec<NamedTensor>> {
    tensors(model, with_momentum)
        .into_iter()
        .map(|(name, t)| {
            Ok(NamedTensor {
                name,
                shape: t.shape().to_vec(),
                data: gpu.read(&t)?,
            })
        })
        .collect()
}

/// Loads a checkpoint (read from `path`) into the model after checking every name and shape
/// matches; momentum as `momentum` says.
pub fn restore(
    gpu: &Gpu,
    model: &Model,
    path: &Path,
    ckpt: Checkpoint,
    momentum: Momentum,
) -> Result<Loaded> {
    let with_momentum = match momentum {
        Momentum::Require => true,
        Momentum::IfPresent => ckpt.tensors.iter().any(|t| t.name.starts_with(MOMENTUM)),
        Momentum::Skip => false,
    };
    let targets = tensors(model, with_momentum);
    let expected: Vec<(String, Vec<usize>)> = targets
        .iter()
        .map(|(n, t)| (n.clone(), t.shape().to_vec()))
        .collect();
    let ckpt = Checkpoint {
        tensors: ckpt
            .tensors
            .into_iter()
            .filter(|t| with_momentum || !t.name.starts_with(MOMENTUM))
            .collect(),
        state: ckpt.state,
    };
    check_compatible_file(path, &expected, &ckpt)?;
    for (name, target) in targets {
        let source = ckpt
            .tensors
            .iter()
            .find(|t| t.name == name)
            .expect("checked compatible");
        gpu.write(&target, bytemuck::cast_slice(&source.data))?;
    }
    let params = model.params.ids().count();
    Ok(Loaded {
        params,
        buffers: model.params.buffers().count(),
        momentum: if with_momentum { params } else { 0 },
    })
}
