//! The layers models are built from: each declares its named parameters (with their
//! initialization) in a `ParamStoreBuilder`, and later runs forward on a tape.

use rand::Rng;
use rand_distr::{Distribution, Normal};
use rand_pcg::Pcg64;

use super::BnMode;
use super::Pass;
use crate::autograd::{Tape, Var};
use crate::error::Result;
use crate::ops::noise::NoiseMask;
use crate::ops::norm::BnVars;
use crate::ops::{self};
use crate::params::{BufferId, ParamId, ParamStore, ParamStoreBuilder};

/// Which fan a Kaiming-normal initialization scales by (std = sqrt(2 / fan)).
#[derive(Debug, Clone, Copy)]
pub enum Fan {
    In,
    Out,
}

fn kaiming_normal(rng: &mut Pcg64, len: usize, fan: usize) -> Vec<f32> {
    let normal = Normal::new(0.0, (2.0 / fan as f64).sqrt()).expect("a positive std");
    (0..len).map(|_| normal.sample(rng) as f32).collect()
}

/// PyTorch's default for nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
fn pytorch_uniform(rng: &mut Pcg64, len: usize, fan_in: usize) -> Vec<f32> {
    let bound = 1.0 / (fan_in as f64).sqrt();
    (0..len)
        .map(|_| rng.random_range(-bound..bound) as f32)
        .collect()
}

/// One residual block's place in a CIFAR ResNet-style network.
pub struct BlockPlan {
    /// State-dict prefix, `layer<stage>.<index>`.
    pub name: String,
    pub c_in: usize,
    pub c_out: usize,
    pub stride: usize,
}

impl BlockPlan {
    /// Whether the shortcut must change the shape (else it is the identity).
    pub fn changes_shape(&self) -> bool {
        self.stride != 1 || self.c_in != self.c_out
    }
}

/// The blocks after a 16-channel stem: three stages of `per_stage` blocks with `widths`, the
/// first block of the second and third stage striding by 2.
pub fn block_plan(per_stage: usize, widths: [usize; 3]) -> Vec<BlockPlan> {
    let mut c_in = 16;
    let mut plan = Vec::new();
    for (stage, width) in widths.into_iter().enumerate() {
        for i in 0..per_stage {
            let stride = if i == 0 && stage > 0 { 2 } else { 1 };
            plan.push(BlockPlan {
                name: format!("layer{}.{i}", stage + 1),
                c_in,
                c_out: width,
                stride,
            });
            c_in = width;
        }
    }
    plan
}

/// A convolution without bias.
pub struct Conv {
    weight: ParamId,
    stride: usize,
    pad: usize,
}

impl Conv {
    /// `k`x`k` kernel, "same" padding for odd k.
    pub fn declare(
        b: &mut ParamStoreBuilder,
        rng: &mut Pcg64,
        name: &str,
        [c_in, c_out, k, stride]: [usize; 4],
        fan: Fan,
    ) -> Conv {
        let fan = match fan {
            Fan::In => c_in * k * k,
            Fan::Out => c_out * k * k,
        };
        let init = kaiming_normal(rng, c_out * c_in * k * k, fan);
        Conv {
            weight: b.param(&format!("{name}.weight"), &[c_out, c_in, k, k], init),
            stride,
            pad: k / 2,
        }
    }

    pub fn forward(&self, tape: &mut Tape, params: &ParamStore, x: &Var) -> Result<Var> {
        let w = tape.param(params, self.weight);
        ops::conv2d(tape, x, &w, self.stride, self.pad)
    }
}

struct BnIds {
    gamma: ParamId,
    beta: ParamId,
    running_mean: BufferId,
    running_var: BufferId,
}

impl BnIds {
    fn declare(b: &mut ParamStoreBuilder, name: &str, c: usize) -> BnIds {
        BnIds {
            gamma: b.param(&format!("{name}.weight"), &[c], vec![1.0; c]),
            beta: b.param(&format!("{name}.bias"), &[c], vec![0.0; c]),
            running_mean: b.buffer(&format!("{name}.running_mean"), &[c], vec![0.0; c]),
            running_var: b.buffer(&format!("{name}.running_var"), &[c], vec![1.0; c]),
        }
    }
}

/// A batch norm, with AuxBN's auxiliary layer `<name>_noise` when the model uses AuxBN.
pub struct Bn {
    main: BnIds,
    aux: Option<BnIds>,
    /// DAR-BN or AuxBN: noise samples get their own statistics.
    routed: bool,
}

impl Bn {
    pub fn declare(b: &mut ParamStoreBuilder, name: &str, c: usize, mode: BnMode) -> Bn {
        let main = BnIds::declare(b, name, c);
        let aux = (mode == BnMode::AuxBn).then(|| BnIds::declare(b, &format!("{name}_noise"), c));
        Bn {
            main,
            aux,
            routed: mode != BnMode::Standard,
        }
    }

    /// BN -> ReLU, fused: keeps only x and the statistics for backward, and its output is
    /// recomputed there rather than kept by the convolution that reads it.
    pub fn forward_relu(
        &self,
        tape: &mut Tape,
        params: &ParamStore,
        x: &Var,
        pass: &Pass,
    ) -> Result<Var> {
        self.with_vars(tape, params, pass, |tape, layer, aux, mask| {
            ops::batch_norm(tape, x, layer, aux, mask, pass.training, true)
        })
    }

    /// relu(BN(x) + shortcut), a post-activation block's end, in one pass
    /// (`ops::norm::batch_norm_add_relu`).
    pub fn forward_add_relu(
        &self,
        tape: &mut Tape,
        params: &ParamStore,
        x: &Var,
        shortcut: &Var,
        pass: &Pass,
    ) -> Result<Var> {
        self.with_vars(tape, params, pass, |tape, layer, aux, mask| {
            ops::norm::batch_norm_add_relu(tape, x, shortcut, layer, aux, mask, pass.training)
        })
    }

    /// Runs `op` with this layer's variables, AuxBN's auxiliary layer's and the noise mask when
    /// this pass routes samples.
    fn with_vars(
        &self,
        tape: &mut Tape,
        params: &ParamStore,
        pass: &Pass,
        op: impl FnOnce(&mut Tape, BnVars, Option<BnVars>, Option<&NoiseMask>) -> Result<Var>,
    ) -> Result<Var> {
        let vars = |tape: &mut Tape, ids: &BnIds| {
            (tape.param(params, ids.gamma), tape.param(params, ids.beta))
        };
        let (gamma, beta) = vars(tape, &self.main);
        let layer = BnVars {
            gamma: &gamma,
            beta: &beta,
            running_mean: params.buffer(self.main.running_mean),
            running_var: params.buffer(self.main.running_var),
        };
        // Without noise in the batch every mode is ordinary batch norm.
        let mask = pass.mask.filter(|m| self.routed && m.noise_count() > 0);
        let aux_pair = match (&self.aux, mask) {
            (Some(ids), Some(_)) => Some((ids, vars(tape, ids))),
            _ => None,
        };
        let aux = aux_pair.as_ref().map(|(ids, (gamma, beta))| BnVars {
            gamma,
            beta,
            running_mean: params.buffer(ids.running_mean),
            running_var: params.buffer(ids.running_var),
        });
        op(tape, layer, aux, mask)
    }
}

/// y = x W^T + b, PyTorch's default initialization.
pub struct Linear {
    weight: ParamId,
    bias: ParamId,
}

impl Linear {
    /// `weight_fan_in = true` initializes the weight Kaiming-normal (fan in) instead, as
    /// akamaster's ResNet does; the bias keeps PyTorch's default.
    pub fn declare(
        b: &mut ParamStoreBuilder,
        rng: &mut Pcg64,
        name: &str,
        inputs: usize,
        outputs: usize,
        kaiming_weight: bool,
    ) -> Linear {
        let weight = if kaiming_weight {
            kaiming_normal(rng, outputs * inputs, inputs)
        } else {
            pytorch_uniform(rng, outputs * inputs, inputs)
        };
        Linear {
            weight: b.param(&format!("{name}.weight"), &[outputs, inputs], weight),
            bias: b.param(
                &format!("{name}.bias"),
                &[outputs],
                pytorch_uniform(rng, outputs, inputs),
            ),
        }
    }

    pub fn forward(&self, tape: &mut Tape, params: &ParamStore, x: &Var) -> Result<Var> {
        let (w, b) = (
            tape.param(params, self.weight),
            tape.param(params, self.bias),
        );
        ops::linear(tape, x, &w, &b)
    }
}
