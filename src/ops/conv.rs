//! 2-D convolution without bias (any square kernel, stride, zero padding): forward, gradient
//! w.r.t. the input, gradient w.r.t. the weight.

use crate::autograd::{Tape, Var};
use crate::error::{shape_err, Result};
use crate::gpu::{kernels, Gpu, Kernel, WORKGROUP};
use crate::tensor::{DType, Tensor};

/// The sizes of one convolution, checked once and shared by its three kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    pub h_out: usize,
    pub w_out: usize,
}

impl ConvShape {
    /// Checks that input `x` [N,Cin,H,W] and weight [Cout,Cin,K,K] fit together.
    pub fn new(x: &Tensor, weight: &Tensor, stride: usize, pad: usize) -> Result<ConvShape> {
        const OP: &str = "conv2d";
        let [n, c_in, h, w] = x.nchw(OP, "input")?;
        let [c_out, wc_in, kh, kw] = weight.nchw(OP, "weight")?;
        if wc_in != c_in {
            return shape_err(
                OP,
                format!(
                    "weight {:?} expects {wc_in} input channels, input {:?} has {c_in}",
                    weight.shape(),
                    x.shape()
                ),
            );
        }
        if kh != kw || kh == 0 {
            return shape_err(
                OP,
                format!(
                    "weight {:?} must have a square, non-empty kernel",
                    weight.shape()
                ),
            );
        }
        if stride == 0 {
            return shape_err(OP, "stride must be at least 1");
        }
        if h + 2 * pad < kh || w + 2 * pad < kh {
            return shape_err(
                OP,
                format!("a {kh}x{kh} kernel does not fit a {h}x{w} input padded by {pad}"),
            );
        }
        Ok(ConvShape {
            n,
            c_in,
            h,
            w,
            c_out,
            k: kh,
            stride,
            pad,
            h_out: (h + 2 * pad - kh) / stride + 1,
            w_out: (w + 2 * pad - kh) / stride + 1,
        })
    }

    pub fn output_shape(&self) -> [usize; 4] {
        [self.n, self.c_out, self.h_out, self.w_out]
    }

    /// Multiply-adds of the forward pass (each backward pass does as many).
    pub fn macs(&self) -> u64 {
        (self.n * self.c_out * self.h_out * self.w_out * self.c_in * self.k * self.k) as u64
    }

    fn params(&self) -> [u32; 10] {
        [
            self.n,
            self.c_in,
            self.h,
            self.w,
            self.c_out,
            self.h_out,
            self.w_out,
            self.k,
            self.stride,
            self.pad,
        ]
        .map(|v| v as u32)
    }

    fn run(
        &self,
        gpu: &Gpu,
        kernel: &Kernel,
        tensors: &[(&str, &Tensor)],
        groups: [u32; 3],
    ) -> Result<()> {
        gpu.dispatch(kernel, &[], &self.params(), tensors, groups)
    }
}

pub fn conv2d_forward(gpu: &Gpu, x: &Tensor, weight: &Tensor, s: &ConvShape) -> Result<Tensor> {
    let y = gpu.alloc("conv2d", &s.output_shape(), DType::F32)?;
    let groups = gpu.grid(y.numel() as u64, WORKGROUP);
    s.run(
        gpu,
        &kernels::CONV2D_FORWARD,
        &[("input", x), ("weight", weight), ("output", &y)],
        groups,
    )?;
    Ok(y)
}

pub fn conv2d_backward_input(
    gpu: &Gpu,
    dy: &Tensor,
    weight: &Tensor,
    s: &ConvShape,
) -> Result<Tensor> {
    dy.expect_shape("conv2d backward", "output gradient", &s.output_shape())?;
    let dx = gpu.alloc("conv2d backward", &[s.n, s.c_in, s.h, s.w], DType::F32)?;
    let groups = gpu.grid(dx.numel() as u64, WORKGROUP);
    s.run(
        gpu,
        &kernels::CONV2D_BACKWARD_INPUT,
        &[
            ("output gradient", dy),
            ("weight", weight),
            ("input gradient", &dx),
        ],
        groups,
    )?;
    Ok(dx)
}

pub fn conv2d_backward_weight(gpu: &Gpu, x: &Tensor, dy: &Tensor, s: &ConvShape) -> Result<Tensor> {
    dy.expect_shape("conv2d backward", "output gradient", &s.output_shape())?;
    let dw = gpu.alloc("conv2d backward", &[s.c_out, s.c_in, s.k, s.k], DType::F32)?;
    // One workgroup per weight element.
    let groups = gpu.grid(dw.numel() as u64, 1);
    s.run(
        gpu,
        &kernels::CONV2D_BACKWARD_WEIGHT,
        &[
            ("input", x),
            ("output gradient", dy),
            ("weight gradient", &dw),
        ],
        groups,
    )?;
    Ok(dw)
}

pub fn conv2d(tape: &mut Tape, x: &Var, weight: &Var, stride: usize, pad: usize) -> Result<Var> {
    let s = ConvShape::new(&x.value, &weight.value, stride, pad)?;
    let y = conv2d_forward(tape.gpu(), &x.value, &weight.value, &s)?;
    let (x_saved, w_saved) = (x.value.clone(), weight.value.clone());
    Ok(tape.record(y, &[x, weight], move |gpu, dy, needs| {
        let dx = match needs[0] {
            true => Some(conv2d_backward_input(gpu, dy, &w_saved, &s)?),
            false => None,
        };
        let dw = match needs[1] {
            true => Some(conv2d_backward_weight(gpu, &x_saved, dy, &s)?),
            false => None,
        };
        Ok(vec![dx, dw])
    }))
}
