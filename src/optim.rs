//! SGD with momentum and weight decay (PyTorch semantics), updating every parameter of a
//! `ParamStore` in one dispatch over its arenas; and the check of a step's gradients that
//! dynamic loss scaling makes before it.

use crate::error::Result;
use crate::gpu::tensor::{DType, Tensor};
use crate::gpu::{Gpu, WORKGROUP};
use crate::kernel_params;
use crate::ops::{kernels, LenParams};
use crate::params::ParamStore;

kernel_params! {
    /// `Params` of shaders/sgd.wgsl.
    pub struct SgdParams {
        pub len: u32,
        pub lr: f32,
        pub momentum: f32,
        pub weight_decay: f32,
        pub grad_scale: f32,
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Sgd {
    pub lr: f32,
    pub momentum: f32,
    pub weight_decay: f32,
}

/// (start, length) of the slices an arena of `total` elements is dispatched in: one when it
/// fits one binding, otherwise chunks that each do (the software adapter binds at most 128 MiB,
/// less than WRN-28-10's 146 MB of weights).
fn arena_chunks(gpu: &Gpu, total: usize) -> impl Iterator<Item = (usize, usize)> {
    let align = (gpu.limits().min_storage_buffer_offset_alignment as usize / 4).max(1);
    let max_binding = gpu.limits().max_storage_buffer_binding_size as usize / 4;
    let chunk = (max_binding / align) * align;
    (0..total)
        .step_by(chunk)
        .map(move |start| (start, chunk.min(total - start)))
}

impl Sgd {
    pub fn step(&self, params: &ParamStore) -> Result<()> {
        self.step_unscaled(params, 1.0)
    }

    /// The update with every gradient multiplied by `grad_scale` first: 1 / the loss scale the
    /// backward pass ran at (see `train::loss_scale`).
    pub fn step_unscaled(&self, params: &ParamStore, grad_scale: f32) -> Result<()> {
        let [w, g, v] = params.arenas();
        let gpu = params.gpu();
        for (start, len) in arena_chunks(gpu, w.numel()) {
            let part = |t: &Tensor| t.slice(start, len);
            let (w, g, v) = (part(&w), part(&g), part(&v));
            gpu.dispatch(
                &kernels::SGD,
                &[],
                &SgdParams {
                    len: len as u32,
                    lr: self.lr,
                    momentum: self.momentum,
                    weight_decay: self.weight_decay,
                    grad_scale,
                },
                &[("gradients", &g), ("parameters", &w), ("momentum", &v)],
                gpu.grid(len as u64, WORKGROUP),
            )?;
        }
        Ok(())
    }
}

/// Elements each thread of shaders/step_status.wgsl checks (its `PER_THREAD` override).
const STATUS_PER_THREAD: usize = 8;

/// What the host reads after a loss-scaled backward, as two u32 (one readback): the bits of the
/// loss (a one-element tensor), and 1 when any of `gradients` (the parameter store's gradient
/// arena) is NaN or infinite, else 0.
pub fn step_status(gpu: &Gpu, gradients: &Tensor, loss: &Tensor) -> Result<Tensor> {
    loss.expect_shape("step_status", "loss", &[1])?;
    let status = gpu.alloc("step_status", &[2], DType::U32)?;
    gpu.clear(&status);
    for (start, len) in arena_chunks(gpu, gradients.numel()) {
        gpu.dispatch(
            &kernels::STEP_STATUS,
            &[("PER_THREAD", STATUS_PER_THREAD as f64)],
            &LenParams { len: len as u32 },
            &[
                ("gradients", &gradients.slice(start, len)),
                ("loss", loss),
                ("status", &status),
            ],
            gpu.grid(len.div_ceil(STATUS_PER_THREAD) as u64, WORKGROUP),
        )?;
    }
    Ok(status)
}
