//! Moving a model's state between the GPU and checkpoint tensors: parameters and BN buffers
//! under their PyTorch names, momentum buffers under `momentum.<name>`.

use std::path::Path;

use super::checkpoint::{check_compatible_file, Checkpoint, NamedTensor};
use super::error::Result;
use crate::gpu::Gpu;
use crate::models::Model;
use crate::tensor::Tensor;

const MOMENTUM: &str = "momentum.";

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
/// matches. Without `with_momentum` (`--init-from`), momentum tensors in the file are ignored.
pub fn restore(
    gpu: &Gpu,
    model: &Model,
    path: &Path,
    ckpt: Checkpoint,
    with_momentum: bool,
) -> Result<()> {
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
    Ok(())
}
