//! Ops: each family's forward and backward kernels (plain functions on tensors, which the kernel
//! tests check against `reference`) and its autograd wrapper (which records the backward on the
//! tape). Ops validate shapes before anything is dispatched.

pub mod activation;
pub mod conv;
pub mod linear;
pub mod loss;
pub mod noise;
pub mod norm;
pub mod pool;
pub mod shortcut;

pub use activation::{accumulate, add, dropout, relu, residual_add, scale_by};
pub use conv::conv2d;
pub use linear::linear;
pub use loss::cross_entropy;
pub use norm::batch_norm;
pub use pool::global_avg_pool;
pub use shortcut::shortcut;

use crate::error::{shape_err, Result};
use crate::gpu::{Gpu, Kernel, WORKGROUP};
use crate::kernel_params;
use crate::tensor::Tensor;

kernel_params! {
    /// `Params` of the kernels that take only an element count (relu_forward, relu_backward,
    /// add, accumulate, scale_by; bench_copy counts vec4s).
    pub struct LenParams {
        pub len: u32,
    }
}

kernel_params! {
    /// `Params` of add_bias and sum_rows: an [m, n] row-major matrix.
    pub struct MatrixParams {
        pub m: u32,
        pub n: u32,
    }
}

/// Dispatches a one-thread-per-element kernel over `len` elements.
fn elementwise(
    gpu: &Gpu,
    kernel: &Kernel<LenParams>,
    tensors: &[(&str, &Tensor)],
    len: usize,
) -> Result<()> {
    let params = LenParams { len: len as u32 };
    gpu.dispatch(
        kernel,
        &[],
        &params,
        tensors,
        gpu.grid(len as u64, WORKGROUP),
    )
}

/// Errors unless `a` and `b` have the same shape.
fn same_shape(op: &'static str, a: (&str, &Tensor), b: (&str, &Tensor)) -> Result<()> {
    if a.1.shape() != b.1.shape() {
        return shape_err(
            op,
            format!(
                "`{}` has shape {:?} but `{}` has shape {:?}",
                a.0,
                a.1.shape(),
                b.0,
                b.1.shape()
            ),
        );
    }
    Ok(())
}
