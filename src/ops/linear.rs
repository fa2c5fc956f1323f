//! The linear layer y = x W^T + b, with PyTorch's weight layout W [out, in].

use super::kernels;
use super::MatrixParams;
use crate::autograd::{Tape, Var};
use crate::error::{shape_err, Result};
use crate::gpu::tensor::{DType, Tensor};
use crate::gpu::{Gpu, WORKGROUP};
use crate::kernel_params;

kernel_params! {
    /// `Params` of shaders/matmul.wgsl: sizes and the operands' strides.
    pub struct MatmulParams {
        pub m: u32,
        pub n: u32,
        pub k: u32,
        pub a_row: u32,
        pub a_col: u32,
        pub b_row: u32,
        pub b_col: u32,
    }
}

/// A row-major matrix operand, possibly transposed, as the `matmul` kernel reads it.
#[derive(Clone, Copy)]
struct Operand<'a> {
    t: &'a Tensor,
    rows: usize,
    cols: usize,
    transposed: bool,
}

impl<'a> Operand<'a> {
    fn of(op: &'static str, name: &str, t: &'a Tensor, transposed: bool) -> Result<Self> {
        let [rows, cols] = t.matrix(op, name)?;
        Ok(Operand {
            t,
            rows,
            cols,
            transposed,
        })
    }

    /// (rows, cols) after the transpose.
    fn dims(&self) -> (usize, usize) {
        if self.transposed {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        }
    }

    /// (row stride, column stride) after the transpose.
    fn strides(&self) -> (u32, u32) {
        if self.transposed {
            (1, self.cols as u32)
        } else {
            (self.cols as u32, 1)
        }
    }
}

/// c = op(a) · op(b).
fn matmul(gpu: &Gpu, op: &'static str, a: Operand, b: Operand) -> Result<Tensor> {
    let (m, k) = a.dims();
    let (kb, n) = b.dims();
    if k != kb {
        return shape_err(
            op,
            format!(
                "cannot multiply {:?} by {:?}: inner sizes {k} and {kb} differ",
                a.t.shape(),
                b.t.shape()
            ),
        );
    }
    let c = gpu.alloc(op, &[m, n], DType::F32)?;
    let (a_row, a_col) = a.strides();
    let (b_row, b_col) = b.strides();
    gpu.dispatch(
        &kernels::MATMUL,
        &[],
        &MatmulParams {
            m: m as u32,
            n: n as u32,
            k: k as u32,
            a_row,
            a_col,
            b_row,
            b_col,
        },
        &[("a", a.t), ("b", b.t), ("c", &c)],
        gpu.grid((m * n) as u64, WORKGROUP),
    )?;
    Ok(c)
}

pub fn linear_forward(gpu: &Gpu, x: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    const OP: &str = "linear";
    let [out_features, _] = weight.matrix(OP, "weight")?;
    bias.expect_shape(OP, "bias", &[out_features])?;
    let y = matmul(
        gpu,
        OP,
        Operand::of(OP, "input", x, false)?,
        Operand::of(OP, "weight", weight, true)?,
    )?;
    let [rows, _] = y.matrix(OP, "output")?;
    gpu.dispatch(
        &kernels::ADD_BIAS,
        &[],
        &MatrixParams {
            m: rows as u32,
            n: out_features as u32,
        },
        &[("bias", bias), ("output", &y)],
        gpu.grid(y.numel() as u64, WORKGROUP),
    )?;
    Ok(y)
}

/// Gradients (dx = dy W, dW = dy^T x, db = column sums of dy).
pub fn linear_backward(gpu: &Gpu, x: &Tensor, weight: &Tensor, dy: &Tensor) -> Result<[Tensor; 3]> {
    const OP: &str = "linear backward";
    let dy_op = Operand::of(OP, "output gradient", dy, false)?;
    let dx = matmul(gpu, OP, dy_op, Operand::of(OP, "weight", weight, false)?)?;
    let dw = matmul(
        gpu,
        OP,
        Operand::of(OP, "output gradient", dy, true)?,
        Operand::of(OP, "input", x, false)?,
    )?;
    let [rows, cols] = dy.matrix(OP, "output gradient")?;
    let db = gpu.alloc(OP, &[cols], DType::F32)?;
    super::sum_rows(
        gpu,
        ("output gradient", dy),
        ("bias gradient", &db),
        rows,
        cols,
    )?;
    Ok([dx, dw, db])
}

pub fn linear(tape: &mut Tape, x: &Var, weight: &Var, bias: &Var) -> Result<Var> {
    let y = linear_forward(tape.gpu(), &x.value, &weight.value, &bias.value)?;
    let (x_saved, w_saved) = (x.value.clone(), weight.value.clone());
    Ok(tape.record(y, &[x, weight, bias], move |gpu, dy, _| {
        let [dx, dw, db] = linear_backward(gpu, &x_saved, &w_saved, dy)?;
        Ok(vec![Some(dx), Some(dw), Some(db)])
    }))
}
