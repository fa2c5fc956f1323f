//! Global average pooling: [N, C, H, W] -> [N, C].

use super::{act, kernels};
use crate::autograd::{Tape, Var};
use crate::error::Result;
use crate::gpu::tensor::{DType, Tensor};
use crate::gpu::{Gpu, WORKGROUP};
use crate::kernel_params;

kernel_params! {
    /// `Params` of shaders/avg_pool_forward.wgsl and avg_pool_backward.wgsl: N·C planes of H·W.
    pub struct PoolParams {
        pub nc: u32,
        pub hw: u32,
    }
}

pub fn avg_pool_forward(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    let [n, c, h, w] = x.nchw("global_avg_pool", "input")?;
    // The pooled features and everything after them (the classifier) stay f32: N·C values.
    let y = gpu.alloc("global_avg_pool", &[n, c], DType::F32)?;
    gpu.dispatch_as(
        &kernels::AVG_POOL_FORWARD,
        &act(x),
        &[],
        &PoolParams {
            nc: (n * c) as u32,
            hw: (h * w) as u32,
        },
        &[("input", x), ("output", &y)],
        gpu.grid((n * c) as u64, WORKGROUP),
    )?;
    Ok(y)
}

/// The gradient for an input of `input_shape` [N, C, H, W] and element type `dtype`.
pub fn avg_pool_backward(
    gpu: &Gpu,
    dy: &Tensor,
    input_shape: &[usize],
    dtype: DType,
) -> Result<Tensor> {
    const OP: &str = "global_avg_pool backward";
    let (nc, hw) = (
        input_shape[0] * input_shape[1],
        input_shape[2] * input_shape[3],
    );
    dy.expect_shape(OP, "output gradient", &input_shape[..2])?;
    let dx = gpu.alloc(OP, input_shape, dtype)?;
    gpu.dispatch_as(
        &kernels::AVG_POOL_BACKWARD,
        &act(&dx),
        &[],
        &PoolParams {
            nc: nc as u32,
            hw: hw as u32,
        },
        &[("output gradient", dy), ("input gradient", &dx)],
        gpu.grid((nc * hw) as u64, WORKGROUP),
    )?;
    Ok(dx)
}

pub fn global_avg_pool(tape: &mut Tape, x: &Var) -> Result<Var> {
    let y = avg_pool_forward(tape.gpu(), &x.value)?;
    let shape = x.shape().to_vec();
    let dtype = x.value.dtype();
    Ok(tape.record(y, &[x], move |gpu, dy, _| {
        Ok(vec![Some(avg_pool_backward(gpu, dy, &shape, dtype)?)])
    }))
}
