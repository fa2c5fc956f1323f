//! Batch normalization with PyTorch's semantics: training mode normalizes with the batch
//! statistics (biased variance) and updates the running statistics (momentum 0.1, unbiased
//! variance); eval mode normalizes with the running statistics.

use crate::autograd::{Tape, Var};
use crate::error::{shape_err, Result};
use crate::gpu::{kernels, Gpu, WORKGROUP};
use crate::tensor::{DType, Tensor};

pub const MOMENTUM: f32 = 0.1;
pub const EPS: f32 = 1e-5;

/// Per-channel tensors of one batch-norm layer.
pub struct BnParams<'a> {
    pub gamma: &'a Tensor,
    pub beta: &'a Tensor,
    pub running_mean: &'a Tensor,
    pub running_var: &'a Tensor,
}

/// [N, C, H*W] of the input, after checking every per-channel tensor has C entries.
fn dims(op: &'static str, x: &Tensor, per_channel: &[(&str, &Tensor)]) -> Result<[u32; 3]> {
    let [n, c, h, w] = x.nchw(op, "input")?;
    for (name, t) in per_channel {
        t.expect_shape(op, name, &[c])?;
    }
    Ok([n as u32, c as u32, (h * w) as u32])
}

/// Training-mode forward: returns (y, batch mean, batch biased variance) and updates the
/// running statistics in place.
pub fn batch_norm_train_forward(gpu: &Gpu, x: &Tensor, bn: &BnParams) -> Result<[Tensor; 3]> {
    const OP: &str = "batch_norm";
    let [n, c, hw] = dims(
        OP,
        x,
        &[
            ("gamma", bn.gamma),
            ("beta", bn.beta),
            ("running_mean", bn.running_mean),
            ("running_var", bn.running_var),
        ],
    )?;
    if n * hw < 2 {
        return shape_err(
            OP,
            format!(
                "training mode needs more than one value per channel, input is {:?}",
                x.shape()
            ),
        );
    }
    let mean = gpu.alloc(OP, &[c as usize], DType::F32)?;
    let var = gpu.alloc(OP, &[c as usize], DType::F32)?;
    gpu.dispatch(
        &kernels::BN_STATS,
        &[],
        &[n, c, hw, MOMENTUM.to_bits()],
        &[
            ("input", x),
            ("mean", &mean),
            ("var", &var),
            ("running_mean", bn.running_mean),
            ("running_var", bn.running_var),
        ],
        [c, 1, 1],
    )?;
    let y = apply(gpu, x, &mean, &var, bn.gamma, bn.beta, [n, c, hw])?;
    Ok([y, mean, var])
}

/// Eval-mode forward with the running statistics.
pub fn batch_norm_eval_forward(gpu: &Gpu, x: &Tensor, bn: &BnParams) -> Result<Tensor> {
    let d = dims(
        "batch_norm",
        x,
        &[
            ("gamma", bn.gamma),
            ("beta", bn.beta),
            ("running_mean", bn.running_mean),
            ("running_var", bn.running_var),
        ],
    )?;
    apply(
        gpu,
        x,
        bn.running_mean,
        bn.running_var,
        bn.gamma,
        bn.beta,
        d,
    )
}

fn apply(
    gpu: &Gpu,
    x: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    [n, c, hw]: [u32; 3],
) -> Result<Tensor> {
    let y = gpu.alloc("batch_norm", x.shape(), DType::F32)?;
    gpu.dispatch(
        &kernels::BN_APPLY,
        &[],
        &[n, c, hw, EPS.to_bits()],
        &[
            ("input", x),
            ("mean", mean),
            ("var", var),
            ("gamma", gamma),
            ("beta", beta),
            ("output", &y),
        ],
        gpu.grid(x.numel() as u64, WORKGROUP),
    )?;
    Ok(y)
}

/// Gradients (dx, dgamma, dbeta). `mean`/`var` are the statistics the forward normalized with;
/// `training` says whether they were the batch's own (and so depend on x).
pub fn batch_norm_backward(
    gpu: &Gpu,
    x: &Tensor,
    dy: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    gamma: &Tensor,
    training: bool,
) -> Result<[Tensor; 3]> {
    const OP: &str = "batch_norm backward";
    dy.expect_shape(OP, "output gradient", x.shape())?;
    let [n, c, hw] = dims(OP, x, &[("mean", mean), ("var", var), ("gamma", gamma)])?;
    let params = [n, c, hw, EPS.to_bits()];
    let dgamma = gpu.alloc(OP, &[c as usize], DType::F32)?;
    let dbeta = gpu.alloc(OP, &[c as usize], DType::F32)?;
    gpu.dispatch(
        &kernels::BN_BACKWARD_REDUCE,
        &[],
        &params,
        &[
            ("input", x),
            ("output gradient", dy),
            ("mean", mean),
            ("var", var),
            ("gamma gradient", &dgamma),
            ("beta gradient", &dbeta),
        ],
        [c, 1, 1],
    )?;
    let dx = gpu.alloc(OP, x.shape(), DType::F32)?;
    gpu.dispatch(
        &kernels::BN_BACKWARD_INPUT,
        &[("TRAINING", if training { 1.0 } else { 0.0 })],
        &params,
        &[
            ("input", x),
            ("output gradient", dy),
            ("mean", mean),
            ("var", var),
            ("gamma", gamma),
            ("gamma gradient", &dgamma),
            ("beta gradient", &dbeta),
            ("input gradient", &dx),
        ],
        gpu.grid(x.numel() as u64, WORKGROUP),
    )?;
    Ok([dx, dgamma, dbeta])
}

/// Batch norm on the tape: training mode when `training`, else eval mode.
pub fn batch_norm(
    tape: &mut Tape,
    x: &Var,
    gamma: &Var,
    beta: &Var,
    running_mean: &Tensor,
    running_var: &Tensor,
    training: bool,
) -> Result<Var> {
    let bn = BnParams {
        gamma: &gamma.value,
        beta: &beta.value,
        running_mean,
        running_var,
    };
    let (y, mean, var) = if training {
        let [y, mean, var] = batch_norm_train_forward(tape.gpu(), &x.value, &bn)?;
        (y, mean, var)
    } else {
        let y = batch_norm_eval_forward(tape.gpu(), &x.value, &bn)?;
        // Eval mode never updates the running statistics, so sharing their buffers is safe.
        (y, running_mean.clone(), running_var.clone())
    };
    let (x_saved, gamma_saved) = (x.value.clone(), gamma.value.clone());
    Ok(tape.record(y, &[x, gamma, beta], move |gpu, dy, _| {
        let [dx, dgamma, dbeta] =
            batch_norm_backward(gpu, &x_saved, dy, &mean, &var, &gamma_saved, training)?;
        Ok(vec![Some(dx), Some(dgamma), Some(dbeta)])
    }))
}
