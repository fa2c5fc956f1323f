//! SGD with momentum and weight decay (PyTorch semantics), updating every parameter of a
//! `ParamStore` in one dispatch over its arenas.

use crate::error::Result;
use crate::gpu::tensor::Tensor;
use crate::gpu::WORKGROUP;
use crate::kernel_params;
use crate::ops::kernels;
use crate::params::ParamStore;

kernel_params! {
    /// `Params` of shaders/sgd.wgsl.
    pub struct SgdParams {
        pub len: u32,
        pub lr: f32,
        pub momentum: f32,
        pub weight_decay: f32,
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Sgd {
    pub lr: f32,
    pub momentum: f32,
    pub weight_decay: f32,
}

impl Sgd {
    pub fn step(&self, params: &ParamStore) -> Result<()> {
        let [w, g, v] = params.arenas();
        let gpu = params.gpu();
        // One dispatch when the arena fits one binding; otherwise chunks that each do (the
        // software adapter binds at most 128 MiB, less than WRN-28-10's 146 MB of weights).
        let align = gpu.limits().min_storage_buffer_offset_alignment as usize / 4;
        let max_binding = gpu.limits().max_storage_buffer_binding_size as usize / 4;
        let chunk = (max_binding / align.max(1)) * align.max(1);
        let total = w.numel();
        let mut start = 0;
        while start < total {
            let len = chunk.min(total - start);
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
                },
                &[("gradients", &g), ("parameters", &w), ("momentum", &v)],
                gpu.grid(len as u64, WORKGROUP),
            )?;
            start += len;
        }
        Ok(())
    }
}
