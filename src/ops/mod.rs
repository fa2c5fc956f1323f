//! Ops: each family's forward and backward kernels (plain functions on tensors, which the kernel
//! tests check against `reference`) and its autograd wrapper (which records the backward on the
//! tape). Ops validate shapes before anything is dispatched.

pub mod activation;
pub mod conv;
pub mod kernels;
pub mod linear;
pub mod loss;
pub mod noise;
pub mod norm;
pub mod pool;
pub mod shortcut;

pub use activation::{accumulate, add, dropout, relu, residual_add, residual_add_relu, scale_by};
pub use conv::conv2d;
pub use linear::linear;
pub use loss::cross_entropy;
pub use norm::batch_norm;
pub use pool::global_avg_pool;
pub use shortcut::shortcut;

use crate::error::{shape_err, Result};
use crate::gpu::kernels::Elements;
use crate::gpu::tensor::{DType, Tensor};
use crate::gpu::{Gpu, Kernel, WORKGROUP};
use crate::kernel_params;

kernel_params! {
    /// `Params` of the kernels that take only an element count (scale_by; relu_forward,
    /// relu_backward, add and accumulate count their items of one or four values, bench_copy
    /// its vec4s).
    pub struct LenParams {
        pub len: u32,
    }
}

kernel_params! {
    /// `Params` of shaders/bench_fma.wgsl (`bench peak`), declared here with the
    /// other shared `Params` so the kernel registry needs nothing from `bench`.
    pub struct FmaParams {
        pub iters: u32,
        pub threads: u32,
    }
}

kernel_params! {
    /// `Params` of add_bias and sum_rows: an [m, n] row-major matrix.
    pub struct MatrixParams {
        pub m: u32,
        pub n: u32,
    }
}

/// The element types of a kernel whose `act` alias (`//!element act`) is `t`'s type: the
/// variant for f32 or f16 activations.
pub fn act(t: &Tensor) -> [(&'static str, DType); 1] {
    [("act", t.dtype())]
}

/// Dispatches a one-thread-per-item kernel over `len` values. `max_lanes` is the widest item
/// the kernel has: 4 for a kernel with a four-lane variant (`//!lanes`, gpu::kernels), which
/// then takes four values a thread where `len` is a multiple of 4 (else one), or 1.
fn elementwise(
    gpu: &Gpu,
    kernel: &Kernel<LenParams>,
    elements: Elements,
    max_lanes: usize,
    overrides: &[(&str, f64)],
    tensors: &[(&str, &Tensor)],
    len: usize,
) -> Result<()> {
    let lanes = if len.is_multiple_of(max_lanes) {
        max_lanes
    } else {
        1
    };
    let items = len / lanes;
    gpu.dispatch_lanes(
        kernel,
        elements,
        lanes as u32,
        overrides,
        &LenParams { len: items as u32 },
        tensors,
        gpu.grid(items as u64, WORKGROUP),
    )
}

/// Threads per workgroup of the column reductions (`sum_rows`, `bn_stats`).
const COLUMN_THREADS: usize = 256;

/// How a column reduction (`sum_rows`, `bn_stats`) covers an array of `rows` × `cols`: its
/// override REDUCE_GROUP, the row slices S that share a column, and the grid (S threads per
/// column, 256 / S columns per workgroup). See [`column_slices`].
pub fn column_reduction(gpu: &Gpu, rows: usize, cols: usize) -> ((&'static str, f64), [u32; 3]) {
    let slices = column_slices(gpu.sized_as_cpu(), rows, cols);
    (
        ("REDUCE_GROUP", slices as f64),
        gpu.grid((cols * slices) as u64, COLUMN_THREADS as u32),
    )
}

/// Row slices per column of a column reduction on a CPU or GPU adapter. On GPUs S doubles, up
/// to 16, while each slice keeps at least 4 rows and the columns × slices stay within 64 Ki
/// threads: a few columns (batch norm's channels, a bias) spread over many threads, the
/// millions of a split-K sum need no slicing. CPU adapters get 1: on lavapipe (2 cores of 8
/// lanes, which the columns alone fill) the slices' barriers made every measured shape 1.3–3×
/// slower (bench/README.md).
pub fn column_slices(cpu: bool, rows: usize, cols: usize) -> usize {
    let mut slices = 1;
    while !cpu && slices < 16 && rows >= 8 * slices && cols * slices * 2 <= 1 << 16 {
        slices *= 2;
    }
    slices
}

/// out[j] = Σᵢ x[i, j] over a row-major `rows` × `cols` array (kernel `sum_rows`).
pub fn sum_rows(
    gpu: &Gpu,
    x: (&str, &Tensor),
    out: (&str, &Tensor),
    rows: usize,
    cols: usize,
) -> Result<()> {
    let (slices, grid) = column_reduction(gpu, rows, cols);
    gpu.dispatch(
        &kernels::SUM_ROWS,
        &[slices],
        &MatrixParams {
            m: rows as u32,
            n: cols as u32,
        },
        &[x, out],
        grid,
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
