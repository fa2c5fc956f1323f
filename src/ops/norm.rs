//! Batch normalization with PyTorch's semantics (training mode: batch statistics with biased
//! variance, running statistics updated with momentum 0.1 and unbiased variance; eval mode:
//! running statistics), and the paper's ways of treating pure-noise samples in a batch:
//!
//! - ordinary BN (`mask: None`): every sample shares one set of statistics;
//! - DAR-BN (`mask`, no `aux`): natural samples are normalized with the natural samples'
//!   statistics, which alone update the running statistics and alone carry gradients; noise
//!   samples are normalized with the noise samples' statistics, scaled by the same γ/β, update
//!   nothing and pass no gradient back (the reference computes that branch under `no_grad`);
//! - AuxBN (`mask` and `aux`): noise samples go through a second BN layer with its own γ/β and
//!   running statistics; gradients flow in both.
//!
//! All three run on the same kernels, which route each sample to one of two statistic slots
//! from the mask on the GPU (shaders/lib/bn_routing.wgsl); nothing is copied apart.
//!
//! The per-channel reductions run in two stages, both slots at once: a group of threads per
//! (sample, channel) plane sums the plane (a plane lies wholly in its sample's slot;
//! `Plan::plane_group` sizes the group), then a small pass per channel combines the N planes
//! into each slot's total. Training statistics: `bn_plane_stats` (each plane's mean and sum of
//! squared deviations), then `bn_stats` (Chan's exact combination per slot, and the running
//! statistics). Backward: `bn_backward_plane_sums` (each plane's Σg and Σg·x̂), then `sum_rows`
//! over the samples. Both second stages spread each channel's N planes over several threads
//! (`super::column_reduction`).
//!
//! A ReLU after the batch norm (the models' pre-activation units) can be fused in (`relu`): the
//! forward writes max(bn(x), 0) in the same pass, and the backward recomputes the ReLU's mask
//! from x and the statistics, so only x and the per-channel statistics are kept for backward.
//! On the tape the fused output is also recomputable: a convolution consuming it keeps the
//! recipe (one more `bn_apply`) instead of the tensor (see `autograd::Saved`).
//!
//! A post-activation residual block's end, BN → add the shortcut → ReLU, runs as one `bn_apply`
//! pass (`batch_norm_add_relu`): no separate sum over the normalized output. On the tape it is
//! the two nodes it replaces, so its backward is theirs: the sum's takes the ReLU's mask from the
//! saved output (which the next layer keeps anyway) and hands the masked gradient to the batch
//! norm and the shortcut.

use std::rc::Rc;

use super::activation::record_residual_add_relu;
use super::noise::NoiseMask;
use super::{act, kernels};
use crate::autograd::{Tape, Var};
use crate::error::{shape_err, Error, Result};
use crate::gpu::tensor::{DType, Tensor};
use crate::gpu::Gpu;
use crate::kernel_params;

kernel_params! {
    /// `Params` of the kernels that route samples to statistic slots (lib/bn_routing.wgsl says
    /// what each field means).
    pub struct BnRoutingParams {
        pub n: u32,
        pub c: u32,
        pub hw: u32,
        pub eps: f32,
        pub momentum: f32,
        pub routed: u32,
        pub m0: f32,
        pub m1: f32,
        pub trained_slots: u32,
        pub training: u32,
    }
}

kernel_params! {
    /// `Params` of shaders/bn_plane_stats.wgsl: N·C planes of H·W values.
    pub struct BnPlaneParams {
        pub n: u32,
        pub c: u32,
        pub hw: u32,
    }
}

pub const MOMENTUM: f32 = 0.1;
pub const EPS: f32 = 1e-5;
/// The workgroup size of the four per-plane kernels (lib/bn_walk.wgsl), and the most threads
/// they give one plane.
const PLANE_THREADS: usize = 64;

/// Per-channel tensors of one batch-norm layer.
#[derive(Clone, Copy)]
pub struct BnParams<'a> {
    pub gamma: &'a Tensor,
    pub beta: &'a Tensor,
    pub running_mean: &'a Tensor,
    pub running_var: &'a Tensor,
}

/// One batch-norm application: the layer, AuxBN's auxiliary layer, the noise mask, and whether
/// a ReLU follows, fused in.
#[derive(Clone, Copy)]
pub struct BatchNorm<'a> {
    pub main: BnParams<'a>,
    pub aux: Option<BnParams<'a>>,
    pub mask: Option<&'a NoiseMask>,
    pub relu: bool,
}

/// Sizes and routing of one call, checked once.
struct Plan {
    n: usize,
    c: usize,
    hw: usize,
    /// Elements per channel in slot 0 (natural) and slot 1 (noise).
    m: [usize; 2],
}

impl Plan {
    /// Values per load and store in the per-plane kernels (lib/bn_walk.wgsl's LANES): 4 where a
    /// plane is whole vectors, else 1.
    fn lanes(&self) -> u32 {
        if self.hw.is_multiple_of(4) {
            4
        } else {
            1
        }
    }

    /// Threads per plane in the per-plane kernels (their override REDUCE_GROUP), a power of two.
    /// GPUs: about 8 values each, from 8 to 64 threads. CPU adapters: about 8 items (32 values
    /// with 4 lanes) each, down to 1 thread: there workgroups and a reduction's barriers are what
    /// costs, so small planes share one workgroup (bench/README.md, "Batch norm in four-value
    /// items").
    fn plane_group(&self, cpu: bool) -> usize {
        let items = self.hw / self.lanes() as usize;
        let (per_thread, fewest) = if cpu {
            (8, 1)
        } else {
            (8 / self.lanes() as usize, 8)
        };
        let threads = (items / per_thread).max(1);
        (1 << threads.ilog2()).clamp(fewest, PLANE_THREADS)
    }

    /// The per-plane kernels' lanes, override and grid: REDUCE_GROUP threads per plane.
    fn walk(&self, gpu: &Gpu) -> (u32, (&'static str, f64), [u32; 3]) {
        let group = self.plane_group(gpu.sized_as_cpu());
        (
            self.lanes(),
            ("REDUCE_GROUP", group as f64),
            gpu.grid((self.n * self.c * group) as u64, PLANE_THREADS as u32),
        )
    }
}

impl BatchNorm<'_> {
    /// Slot 1's layer: the auxiliary one for AuxBN, else the main one (DAR-BN shares γ/β).
    fn slot1(&self) -> &BnParams<'_> {
        self.aux.as_ref().unwrap_or(&self.main)
    }

    fn plan(&self, op: &'static str, x: &Tensor) -> Result<Plan> {
        let [n, c, h, w] = x.nchw(op, "input")?;
        for (layer, prefix) in [(Some(&self.main), ""), (self.aux.as_ref(), "aux ")] {
            let Some(l) = layer else { continue };
            for (name, t) in [
                ("gamma", l.gamma),
                ("beta", l.beta),
                ("running_mean", l.running_mean),
                ("running_var", l.running_var),
            ] {
                t.expect_shape(op, &format!("{prefix}{name}"), &[c])?;
            }
        }
        let hw = h * w;
        let m = match self.mask {
            None => [n * hw, 0],
            Some(mask) => {
                mask.check_batch(op, n)?;
                [mask.natural_count() * hw, mask.noise_count() * hw]
            }
        };
        Ok(Plan { n, c, hw, m })
    }

    /// The routing kernels' `Params` (shaders/lib/bn_routing.wgsl).
    fn params(&self, plan: &Plan, training: bool) -> BnRoutingParams {
        // Slot 1 trains a layer only in AuxBN: DAR-BN's noise statistics update nothing and pass
        // no gradient back; ordinary BN has no slot 1.
        let trained_slots = if self.aux.is_some() { 0b11 } else { 0b01 };
        BnRoutingParams {
            n: plan.n as u32,
            c: plan.c as u32,
            hw: plan.hw as u32,
            eps: EPS,
            momentum: MOMENTUM,
            routed: u32::from(self.mask.is_some()),
            m0: plan.m[0] as f32,
            m1: plan.m[1] as f32,
            trained_slots,
            training: u32::from(training),
        }
    }

    /// The override constants of bn_apply and the backward kernels (lib/bn_routing.wgsl).
    fn overrides(&self) -> [(&'static str, f64); 1] {
        [("RELU", f64::from(u8::from(self.relu)))]
    }

    /// The mask to bind; ordinary BN never reads it, so any u32 buffer will do.
    fn mask_tensor(&self, gpu: &Gpu) -> Result<Tensor> {
        match self.mask {
            Some(m) => Ok(m.tensor().clone()),
            None => gpu.alloc("batch_norm", &[1], DType::U32),
        }
    }
}

/// Training-mode forward: returns (y, packed batch statistics [mean0|mean1|var0|var1]; an empty
/// slot's are 0) and updates the running statistics of the layers that keep them. With
/// `bn.relu`, y is the ReLU's output.
pub fn batch_norm_train_forward(gpu: &Gpu, x: &Tensor, bn: &BatchNorm) -> Result<[Tensor; 2]> {
    train_forward(gpu, x, None, bn)
}

/// BN, plus `residual`, then ReLU, in one pass over the activations: y = max(bn(x) + residual, 0)
/// (the end of a post-activation residual block; `bn.relu` must be set, as it says the ReLU is
/// there). Training mode (`training`) uses and returns the batch statistics and updates the
/// running ones, as `batch_norm_train_forward`; eval mode the running statistics.
pub fn batch_norm_add_relu_forward(
    gpu: &Gpu,
    x: &Tensor,
    residual: &Tensor,
    bn: &BatchNorm,
    training: bool,
) -> Result<[Tensor; 2]> {
    const OP: &str = "batch_norm_add_relu";
    if !bn.relu {
        return Err(Error::Invalid(format!(
            "{OP}: the batch norm must say that the ReLU follows (relu: true)"
        )));
    }
    residual.expect_shape(OP, "residual", x.shape())?;
    if training {
        train_forward(gpu, x, Some(residual), bn)
    } else {
        eval_forward(gpu, x, Some(residual), bn)
    }
}

fn train_forward(
    gpu: &Gpu,
    x: &Tensor,
    residual: Option<&Tensor>,
    bn: &BatchNorm,
) -> Result<[Tensor; 2]> {
    const OP: &str = "batch_norm";
    let plan = bn.plan(OP, x)?;
    if bn.mask.is_none() && plan.m[0] < 2 {
        return shape_err(
            OP,
            format!(
                "training mode needs more than one value per channel, input is {:?}",
                x.shape()
            ),
        );
    }
    let mask = bn.mask_tensor(gpu)?;
    let partials = gpu.alloc(OP, &[2 * plan.n * plan.c], DType::F32)?;
    let (lanes, group, grid) = plan.walk(gpu);
    gpu.dispatch_lanes(
        &kernels::BN_PLANE_STATS,
        &act(x),
        lanes,
        &[group],
        &BnPlaneParams {
            n: plan.n as u32,
            c: plan.c as u32,
            hw: plan.hw as u32,
        },
        &[("input", x), ("plane statistics", &partials)],
        grid,
    )?;
    let stats = gpu.alloc(OP, &[4 * plan.c], DType::F32)?;
    // Slot 1's running statistics are written only for AuxBN (`params`' trained slots); DAR-BN
    // and ordinary BN bind the main layer's there too.
    let aux = bn.slot1();
    let (slices, grid) = super::column_reduction(gpu, plan.n, plan.c);
    gpu.dispatch(
        &kernels::BN_STATS,
        &[slices],
        &bn.params(&plan, true),
        &[
            ("plane statistics", &partials),
            ("mask", &mask),
            ("stats", &stats),
            ("running_mean", bn.main.running_mean),
            ("running_var", bn.main.running_var),
            ("aux running_mean", aux.running_mean),
            ("aux running_var", aux.running_var),
        ],
        grid,
    )?;
    let y = apply(gpu, x, residual, bn, &plan, &mask, &stats)?;
    Ok([y, stats])
}

/// Eval-mode forward with the running statistics; returns (y, the packed statistics used).
pub fn batch_norm_eval_forward(gpu: &Gpu, x: &Tensor, bn: &BatchNorm) -> Result<[Tensor; 2]> {
    eval_forward(gpu, x, None, bn)
}

fn eval_forward(
    gpu: &Gpu,
    x: &Tensor,
    residual: Option<&Tensor>,
    bn: &BatchNorm,
) -> Result<[Tensor; 2]> {
    const OP: &str = "batch_norm";
    let plan = bn.plan(OP, x)?;
    let c = plan.c;
    let stats = gpu.alloc(OP, &[4 * c], DType::F32)?;
    for (slot, layer) in [(0, &bn.main), (1, bn.slot1())] {
        gpu.copy(layer.running_mean, 0, &stats, slot * c, c)?;
        gpu.copy(layer.running_var, 0, &stats, (2 + slot) * c, c)?;
    }
    let y = apply(gpu, x, residual, bn, &plan, &bn.mask_tensor(gpu)?, &stats)?;
    Ok([y, stats])
}

/// The forward's output again, from its input and the statistics it normalized with
/// (bit-identical: the same kernel on the same values). Backward uses it to recompute the fused
/// BN+ReLU output a convolution consumed, rather than keep it.
pub fn batch_norm_recompute(
    gpu: &Gpu,
    x: &Tensor,
    stats: &Tensor,
    bn: &BatchNorm,
) -> Result<Tensor> {
    let plan = bn.plan("batch_norm", x)?;
    stats.expect_shape("batch_norm", "statistics", &[4 * plan.c])?;
    apply(gpu, x, None, bn, &plan, &bn.mask_tensor(gpu)?, stats)
}

/// bn_apply; with `residual` (override RESIDUAL) it is added before the ReLU.
fn apply(
    gpu: &Gpu,
    x: &Tensor,
    residual: Option<&Tensor>,
    bn: &BatchNorm,
    plan: &Plan,
    mask: &Tensor,
    stats: &Tensor,
) -> Result<Tensor> {
    let y = gpu.alloc("batch_norm", x.shape(), x.dtype())?;
    let aux = bn.slot1();
    let [relu] = bn.overrides();
    let (lanes, group, grid) = plan.walk(gpu);
    gpu.dispatch_lanes(
        &kernels::BN_APPLY,
        &act(x),
        lanes,
        &[
            relu,
            group,
            ("RESIDUAL", f64::from(u8::from(residual.is_some()))),
        ],
        &bn.params(plan, true),
        &[
            ("input", x),
            ("mask", mask),
            ("stats", stats),
            ("gamma", bn.main.gamma),
            ("aux gamma", aux.gamma),
            ("beta", bn.main.beta),
            ("aux beta", aux.beta),
            ("output", &y),
            // Not read without RESIDUAL.
            ("residual", residual.unwrap_or(x)),
        ],
        grid,
    )?;
    Ok(y)
}

/// Gradients: (dx, packed [dgamma0|dgamma1|dbeta0|dbeta1]). `stats` are those the forward
/// normalized with; `training` says whether they were the batch's own (and so depend on x).
/// Slots without a gradient (DAR-BN's noise samples) get dx = 0 and add nothing to dγ/dβ.
/// With `bn.relu`, `dy` is the gradient of the ReLU's output; β is read to recompute its mask.
pub fn batch_norm_backward(
    gpu: &Gpu,
    x: &Tensor,
    dy: &Tensor,
    stats: &Tensor,
    bn: &BatchNorm,
    training: bool,
) -> Result<[Tensor; 2]> {
    const OP: &str = "batch_norm backward";
    let plan = bn.plan(OP, x)?;
    dy.expect_shape(OP, "output gradient", x.shape())?;
    stats.expect_shape(OP, "statistics", &[4 * plan.c])?;
    let mask = bn.mask_tensor(gpu)?;
    let params = bn.params(&plan, training);
    let aux = bn.slot1();
    // What both backward kernels read, bound first in this order (lib/bn_plane.wgsl's
    // bindings, then dy).
    let inputs = [
        ("input", x),
        ("mask", &mask),
        ("stats", stats),
        ("gamma", bn.main.gamma),
        ("aux gamma", aux.gamma),
        ("beta", bn.main.beta),
        ("aux beta", aux.beta),
        ("output gradient", dy),
    ];
    // Row n: the planes of sample n, laid out as dterms; their column sums are dterms.
    let partials = gpu.alloc(OP, &[plan.n, 4 * plan.c], DType::F32)?;
    let (lanes, group, grid) = plan.walk(gpu);
    let [relu] = bn.overrides();
    gpu.dispatch_lanes(
        &kernels::BN_BACKWARD_PLANE_SUMS,
        &act(x),
        lanes,
        &[relu, group],
        &params,
        &[&inputs[..], &[("partial gamma/beta gradients", &partials)]].concat(),
        grid,
    )?;
    let dterms = gpu.alloc(OP, &[4 * plan.c], DType::F32)?;
    super::sum_rows(
        gpu,
        ("partial gamma/beta gradients", &partials),
        ("gamma/beta gradients", &dterms),
        plan.n,
        4 * plan.c,
    )?;
    let dx = gpu.alloc(OP, x.shape(), x.dtype())?;
    gpu.dispatch_lanes(
        &kernels::BN_BACKWARD_INPUT,
        &act(x),
        lanes,
        &[relu, group],
        &params,
        &[
            &inputs[..],
            &[("gamma/beta gradients", &dterms), ("input gradient", &dx)],
        ]
        .concat(),
        grid,
    )?;
    Ok([dx, dterms])
}

/// Splits packed gradients into ((dgamma, dbeta) of the main layer, of the aux layer).
pub fn unpack_gradients(gpu: &Gpu, dterms: &Tensor) -> Result<[[Tensor; 2]; 2]> {
    let c = dterms.numel() / 4;
    let part = |block: usize| -> Result<Tensor> {
        let t = gpu.alloc("batch_norm backward", &[c], DType::F32)?;
        gpu.copy(dterms, block * c, &t, 0, c)?;
        Ok(t)
    };
    Ok([[part(0)?, part(2)?], [part(1)?, part(3)?]])
}

/// A batch-norm layer's variables on the tape.
#[derive(Clone, Copy)]
pub struct BnVars<'a> {
    pub gamma: &'a Var,
    pub beta: &'a Var,
    pub running_mean: &'a Tensor,
    pub running_var: &'a Tensor,
}

impl<'a> BnVars<'a> {
    fn params(&self) -> BnParams<'a> {
        BnParams {
            gamma: &self.gamma.value,
            beta: &self.beta.value,
            running_mean: self.running_mean,
            running_var: self.running_var,
        }
    }
}

/// A layer's tensors, owned by a backward closure (which outlives the forward's borrows).
struct OwnedParams([Tensor; 4]);

impl OwnedParams {
    fn of(p: &BnParams) -> OwnedParams {
        OwnedParams([p.gamma, p.beta, p.running_mean, p.running_var].map(Tensor::clone))
    }

    fn params(&self) -> BnParams<'_> {
        let [gamma, beta, running_mean, running_var] = &self.0;
        BnParams {
            gamma,
            beta,
            running_mean,
            running_var,
        }
    }
}

/// What a batch norm's backward (and the recomputation of a fused BN+ReLU output) needs: the
/// input, the statistics it was normalized with, the layers and the routing. No output.
struct SavedBn {
    x: Tensor,
    stats: Tensor,
    main: OwnedParams,
    aux: Option<OwnedParams>,
    mask: Option<NoiseMask>,
    relu: bool,
    training: bool,
}

impl SavedBn {
    fn of(x: &Tensor, stats: Tensor, bn: &BatchNorm, training: bool) -> SavedBn {
        SavedBn {
            x: x.clone(),
            stats,
            main: OwnedParams::of(&bn.main),
            aux: bn.aux.as_ref().map(OwnedParams::of),
            mask: bn.mask.cloned(),
            relu: bn.relu,
            training,
        }
    }

    fn bn(&self) -> BatchNorm<'_> {
        BatchNorm {
            main: self.main.params(),
            aux: self.aux.as_ref().map(OwnedParams::params),
            mask: self.mask.as_ref(),
            relu: self.relu,
        }
    }
}

/// Batch norm on the tape: ordinary (`mask` None), DAR-BN (`mask`), or AuxBN (`mask` and `aux`);
/// training mode when `training`, else eval mode; `relu` fuses the ReLU that follows it.
pub fn batch_norm(
    tape: &mut Tape,
    x: &Var,
    layer: BnVars,
    aux: Option<BnVars>,
    mask: Option<&NoiseMask>,
    training: bool,
    relu: bool,
) -> Result<Var> {
    let bn = BatchNorm {
        main: layer.params(),
        aux: aux.map(|a| a.params()),
        mask,
        relu,
    };
    let [y, stats] = if training {
        batch_norm_train_forward(tape.gpu(), &x.value, &bn)?
    } else {
        batch_norm_eval_forward(tape.gpu(), &x.value, &bn)?
    };
    Ok(record(
        tape,
        y,
        x,
        layer,
        aux,
        SavedBn::of(&x.value, stats, &bn, training),
    ))
}

/// relu(bn(x) + shortcut), a post-activation residual block's end, in one pass
/// (`batch_norm_add_relu_forward`); the modes and `training` as in `batch_norm`. On the tape it
/// is recorded as the batch norm and `residual_add_relu` it replaces, so the backward is theirs.
pub fn batch_norm_add_relu(
    tape: &mut Tape,
    x: &Var,
    shortcut: &Var,
    layer: BnVars,
    aux: Option<BnVars>,
    mask: Option<&NoiseMask>,
    training: bool,
) -> Result<Var> {
    let bn = BatchNorm {
        main: layer.params(),
        aux: aux.map(|a| a.params()),
        mask,
        relu: true,
    };
    let [y, stats] =
        batch_norm_add_relu_forward(tape.gpu(), &x.value, &shortcut.value, &bn, training)?;
    // The batch norm's own node: its backward needs no ReLU gate (the sum's node applies it).
    let plain = BatchNorm { relu: false, ..bn };
    let saved = SavedBn::of(&x.value, stats, &plain, training);
    // Its output, bn(x), is never materialized: the node's Var carries y as a stand-in, which
    // nothing reads (the sum's backward needs only y and dy), and is dropped right here.
    let normalized = record(tape, y.clone(), x, layer, aux, saved);
    Ok(record_residual_add_relu(tape, y, &normalized, shortcut))
}

/// Records a batch norm whose output is `y` (recomputable when it has the fused ReLU).
fn record(
    tape: &mut Tape,
    y: Tensor,
    x: &Var,
    layer: BnVars,
    aux: Option<BnVars>,
    saved: SavedBn,
) -> Var {
    let mut inputs = vec![x, layer.gamma, layer.beta];
    if let Some(a) = &aux {
        inputs.extend([a.gamma, a.beta]);
    }
    let relu = saved.relu;
    let saved = Rc::new(saved);
    let backward = {
        let saved = saved.clone();
        move |gpu: &Gpu, dy: &Tensor, _: &[bool]| {
            let bn = saved.bn();
            let [dx, dterms] =
                batch_norm_backward(gpu, &saved.x, dy, &saved.stats, &bn, saved.training)?;
            let [[dgamma, dbeta], [aux_dgamma, aux_dbeta]] = unpack_gradients(gpu, &dterms)?;
            let mut grads = vec![Some(dx), Some(dgamma), Some(dbeta)];
            if bn.aux.is_some() {
                grads.extend([Some(aux_dgamma), Some(aux_dbeta)]);
            }
            Ok(grads)
        }
    };
    if relu {
        // The output is cheap to recompute from what the backward keeps anyway; a convolution
        // consuming it then holds the recipe, not an activation as large as x.
        tape.record_recomputable(y, &inputs, backward, move |gpu| {
            batch_norm_recompute(gpu, &saved.x, &saved.stats, &saved.bn())
        })
    } else {
        tape.record(y, &inputs, backward)
    }
}
