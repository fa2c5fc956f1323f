//! Softmax cross-entropy averaged over the batch; forward and backward come from one fused
//! kernel, so the backward pass only scales the saved logit gradient.

use super::activation::scale_by;
use super::kernels;
use crate::autograd::{Tape, Var};
use crate::error::{shape_err, Error, Result};
use crate::gpu::tensor::{DType, Tensor};
use crate::gpu::Gpu;
use crate::kernel_params;

kernel_params! {
    /// `Params` of shaders/cross_entropy.wgsl: N rows of K logits.
    pub struct CrossEntropyParams {
        pub n: u32,
        pub k: u32,
    }
}

/// Uploads class labels after checking each is below `classes` (the kernel cannot report it).
pub fn upload_labels(gpu: &Gpu, labels: &[u32], classes: usize) -> Result<Tensor> {
    if let Some((i, &bad)) = labels
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= classes)
    {
        return Err(Error::Invalid(format!(
            "label {bad} of sample {i} is out of range for {classes} classes"
        )));
    }
    gpu.upload_u32(labels, &[labels.len()])
}

/// Returns (mean loss [1], d loss / d logits [N, K]).
pub fn cross_entropy_forward(gpu: &Gpu, logits: &Tensor, labels: &Tensor) -> Result<[Tensor; 2]> {
    const OP: &str = "cross_entropy";
    let [n, k] = logits.matrix(OP, "logits")?;
    if labels.dtype() != DType::U32 || labels.shape() != [n] {
        return shape_err(
            OP,
            format!(
                "labels must be {n} u32 values (see upload_labels), got {:?} {:?}",
                labels.dtype(),
                labels.shape()
            ),
        );
    }
    if n == 0 || k == 0 {
        return shape_err(OP, format!("logits {:?} are empty", logits.shape()));
    }
    let loss = gpu.alloc(OP, &[1], DType::F32)?;
    let dlogits = gpu.alloc(OP, &[n, k], DType::F32)?;
    gpu.dispatch(
        &kernels::CROSS_ENTROPY,
        &[],
        &CrossEntropyParams {
            n: n as u32,
            k: k as u32,
        },
        &[
            ("logits", logits),
            ("labels", labels),
            ("loss", &loss),
            ("logit gradient", &dlogits),
        ],
        [1, 1, 1],
    )?;
    Ok([loss, dlogits])
}

pub fn cross_entropy(tape: &mut Tape, logits: &Var, labels: &Tensor) -> Result<Var> {
    let [loss, dlogits] = cross_entropy_forward(tape.gpu(), &logits.value, labels)?;
    Ok(tape.record(loss, &[logits], move |gpu, dloss, _| {
        Ok(vec![Some(scale_by(gpu, &dlogits, dloss)?)])
    }))
}
