//! ResNet-32's parameter-free "option A" shortcut: stride-2 subsampling with the channels
//! zero-padded by `pad` on each side (akamaster's `F.pad(x[:, :, ::2, ::2], (0,0,0,0,pad,pad))`).

use super::{act, kernels};
use crate::autograd::{Tape, Var};
use crate::error::Result;
use crate::gpu::tensor::Tensor;
use crate::gpu::{Gpu, WORKGROUP};
use crate::kernel_params;

kernel_params! {
    /// `Params` of shaders/shortcut_forward.wgsl and shortcut_backward.wgsl.
    pub struct ShortcutParams {
        pub n: u32,
        pub c_in: u32,
        pub h: u32,
        pub w: u32,
        pub pad: u32,
        pub h_out: u32,
        pub w_out: u32,
    }
}

fn params(x_shape: [usize; 4], pad: usize) -> (ShortcutParams, [usize; 4]) {
    let [n, c, h, w] = x_shape;
    let out = [n, c + 2 * pad, h.div_ceil(2), w.div_ceil(2)];
    let p = ShortcutParams {
        n: n as u32,
        c_in: c as u32,
        h: h as u32,
        w: w as u32,
        pad: pad as u32,
        h_out: out[2] as u32,
        w_out: out[3] as u32,
    };
    (p, out)
}

pub fn shortcut_forward(gpu: &Gpu, x: &Tensor, pad: usize) -> Result<Tensor> {
    let (p, out) = params(x.nchw("shortcut", "input")?, pad);
    let y = gpu.alloc("shortcut", &out, x.dtype())?;
    gpu.dispatch_as(
        &kernels::SHORTCUT_FORWARD,
        &act(x),
        &[],
        &p,
        &[("input", x), ("output", &y)],
        gpu.grid(y.numel() as u64, WORKGROUP),
    )?;
    Ok(y)
}

pub fn shortcut_backward(
    gpu: &Gpu,
    dy: &Tensor,
    x_shape: [usize; 4],
    pad: usize,
) -> Result<Tensor> {
    const OP: &str = "shortcut backward";
    let (p, out) = params(x_shape, pad);
    dy.expect_shape(OP, "output gradient", &out)?;
    let dx = gpu.alloc(OP, &x_shape, dy.dtype())?;
    gpu.dispatch_as(
        &kernels::SHORTCUT_BACKWARD,
        &act(dy),
        &[],
        &p,
        &[("output gradient", dy), ("input gradient", &dx)],
        gpu.grid(dx.numel() as u64, WORKGROUP),
    )?;
    Ok(dx)
}

pub fn shortcut(tape: &mut Tape, x: &Var, pad: usize) -> Result<Var> {
    let y = shortcut_forward(tape.gpu(), &x.value, pad)?;
    let x_shape = x.value.nchw("shortcut", "input")?;
    Ok(tape.record(y, &[x], move |gpu, dy, _| {
        Ok(vec![Some(shortcut_backward(gpu, dy, x_shape, pad)?)])
    }))
}
