//! Elementwise ops: ReLU, addition (residuals), dropout, and the gradient helpers
//! (accumulate, scale by a GPU scalar).

use super::kernels;
use super::{act, elementwise, same_shape};
use crate::autograd::{Tape, Var};
use crate::error::{Error, Result};
use crate::gpu::tensor::{DType, Tensor};
use crate::gpu::{Gpu, WORKGROUP};
use crate::kernel_params;

kernel_params! {
    /// `Params` of shaders/dropout.wgsl.
    pub struct DropoutParams {
        pub len: u32,
        pub stream: u32,
        pub seed_lo: u32,
        pub seed_hi: u32,
        pub p_drop: f32,
    }
}

pub fn relu_forward(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    let y = gpu.alloc("relu", x.shape(), x.dtype())?;
    elementwise(
        gpu,
        &kernels::RELU_FORWARD,
        &act(x),
        4,
        &[],
        &[("x", x), ("y", &y)],
        x.numel(),
    )?;
    Ok(y)
}

pub fn relu_backward(gpu: &Gpu, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    same_shape("relu backward", ("y", y), ("dy", dy))?;
    let dx = gpu.alloc("relu backward", y.shape(), y.dtype())?;
    elementwise(
        gpu,
        &kernels::RELU_BACKWARD,
        &act(y),
        4,
        &[],
        &[("y", y), ("dy", dy), ("dx", &dx)],
        y.numel(),
    )?;
    Ok(dx)
}

pub fn relu(tape: &mut Tape, x: &Var) -> Result<Var> {
    let y = relu_forward(tape.gpu(), &x.value)?;
    let saved = y.clone();
    Ok(tape.record(y, &[x], move |gpu, dy, _| {
        Ok(vec![Some(relu_backward(gpu, &saved, dy)?)])
    }))
}

/// out = a + b (same shapes).
pub fn add(gpu: &Gpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    add_kernel(gpu, "add", a, b, false)
}

/// out = max(a + b, 0) (same shapes), in one pass.
pub fn add_relu(gpu: &Gpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    add_kernel(gpu, "add_relu", a, b, true)
}

fn add_kernel(gpu: &Gpu, op: &'static str, a: &Tensor, b: &Tensor, relu: bool) -> Result<Tensor> {
    same_shape(op, ("a", a), ("b", b))?;
    let out = gpu.alloc(op, a.shape(), a.dtype())?;
    elementwise(
        gpu,
        &kernels::ADD,
        &act(a),
        4,
        &[("RELU", f64::from(u8::from(relu)))],
        &[("a", a), ("b", b), ("out", &out)],
        a.numel(),
    )?;
    Ok(out)
}

/// dst += src, in place.
pub fn accumulate(gpu: &Gpu, dst: &Tensor, src: &Tensor) -> Result<()> {
    same_shape("accumulate", ("dst", dst), ("src", src))?;
    elementwise(
        gpu,
        &kernels::ACCUMULATE,
        &act(dst),
        4,
        &[],
        &[("src", src), ("dst", dst)],
        dst.numel(),
    )
}

/// out = x * s, with `s` a one-element tensor on the GPU.
pub fn scale_by(gpu: &Gpu, x: &Tensor, s: &Tensor) -> Result<Tensor> {
    if s.numel() != 1 {
        return Err(Error::Shape {
            op: "scale_by",
            detail: format!("the scale must have one element, got shape {:?}", s.shape()),
        });
    }
    let out = gpu.alloc("scale_by", x.shape(), DType::F32)?;
    elementwise(
        gpu,
        &kernels::SCALE_BY,
        &[],
        1,
        &[],
        &[("x", x), ("s", s), ("out", &out)],
        x.numel(),
    )?;
    Ok(out)
}

/// The residual sum `a + b`; its gradient flows unchanged to both inputs.
pub fn residual_add(tape: &mut Tape, a: &Var, b: &Var) -> Result<Var> {
    let out = add(tape.gpu(), &a.value, &b.value)?;
    Ok(tape.record(out, &[a, b], |_, dy, _| {
        Ok(vec![Some(dy.clone()), Some(dy.clone())])
    }))
}

/// relu(a + b), the end of a post-activation residual block, in one pass; the backward rebuilds
/// the ReLU's mask from the saved output and hands the same gradient to both inputs.
pub fn residual_add_relu(tape: &mut Tape, a: &Var, b: &Var) -> Result<Var> {
    let y = add_relu(tape.gpu(), &a.value, &b.value)?;
    Ok(record_residual_add_relu(tape, y, a, b))
}

/// Records `y` = relu(a + b), computed by this op or by a kernel that fused it in (batch norm's
/// `batch_norm_add_relu`), with `residual_add_relu`'s backward.
pub fn record_residual_add_relu(tape: &mut Tape, y: Tensor, a: &Var, b: &Var) -> Var {
    let saved = y.clone();
    tape.record(y, &[a, b], move |gpu, dy, _| {
        let dx = relu_backward(gpu, &saved, dy)?;
        Ok(vec![Some(dx.clone()), Some(dx)])
    })
}

/// Seeds a dropout mask: `seed` should change every step, `stream` tells layers apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropoutSeed {
    pub seed: u64,
    pub stream: u32,
}

/// Scales `x` by keep/(1-p) with a counter-based random mask (kernel `dropout`).
pub fn dropout_apply(gpu: &Gpu, x: &Tensor, p: f32, seed: DropoutSeed) -> Result<Tensor> {
    if !(0.0..1.0).contains(&p) {
        return Err(Error::Invalid(format!(
            "dropout: probability {p} is outside [0, 1)"
        )));
    }
    let out = gpu.alloc("dropout", x.shape(), x.dtype())?;
    let params = DropoutParams {
        len: x.numel() as u32,
        stream: seed.stream,
        seed_lo: seed.seed as u32,
        seed_hi: (seed.seed >> 32) as u32,
        p_drop: p,
    };
    gpu.dispatch_as(
        &kernels::DROPOUT,
        &act(x),
        &[],
        &params,
        &[("x", x), ("out", &out)],
        // One thread per block of four elements (shaders/dropout.wgsl).
        gpu.grid(x.numel().div_ceil(4) as u64, WORKGROUP),
    )?;
    Ok(out)
}

/// Training-mode dropout; the backward regenerates the same mask from the seed.
pub fn dropout(tape: &mut Tape, x: &Var, p: f32, seed: DropoutSeed) -> Result<Var> {
    if p == 0.0 {
        return Ok(x.clone());
    }
    let y = dropout_apply(tape.gpu(), &x.value, p, seed)?;
    Ok(tape.record(y, &[x], move |gpu, dy, _| {
        Ok(vec![Some(dropout_apply(gpu, dy, p, seed)?)])
    }))
}
