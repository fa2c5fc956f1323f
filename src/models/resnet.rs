//! ResNet for CIFAR in akamaster's layout (ResNet-32: n = 5): conv3x3 (3 -> 16) -> BN -> ReLU;
//! three stages of n post-activation basic blocks of widths 16, 32, 64 with strides 1, 2, 2;
//! global average pool -> linear. A block: conv3x3 (stride) -> BN -> ReLU -> conv3x3 -> BN, plus
//! the shortcut, then ReLU; where the shape changes the shortcut is "option A" (stride-2
//! subsampling, zero-padded channels, no parameters). Convolution and linear weights are
//! Kaiming-normal (fan in).

use rand_pcg::Pcg64;

use super::layers::{block_plan, Bn, Conv, Fan, Linear};
use super::BnMode;
use super::Pass;
use crate::autograd::{Tape, Var};
use crate::error::Result;
use crate::ops::{self};
use crate::params::{ParamStore, ParamStoreBuilder};

struct Block {
    conv1: Conv,
    bn1: Bn,
    conv2: Conv,
    bn2: Bn,
    /// Channels of zero padding on each side of the option-A shortcut; None = identity.
    shortcut_pad: Option<usize>,
}

pub struct ResNet {
    conv1: Conv,
    bn1: Bn,
    blocks: Vec<Block>,
    linear: Linear,
}

impl ResNet {
    pub fn declare(
        b: &mut ParamStoreBuilder,
        rng: &mut Pcg64,
        depth: usize,
        classes: usize,
        bn: BnMode,
    ) -> ResNet {
        let per_stage = (depth - 2) / 6;
        let conv1 = Conv::declare(b, rng, "conv1", [3, 16, 3, 1], Fan::In);
        let bn1 = Bn::declare(b, "bn1", 16, bn);
        let blocks = block_plan(per_stage, [16, 32, 64])
            .into_iter()
            .map(|p| {
                let conv = |b: &mut ParamStoreBuilder, rng: &mut Pcg64, part: &str, shape| {
                    Conv::declare(b, rng, &format!("{}.{part}", p.name), shape, Fan::In)
                };
                Block {
                    conv1: conv(b, rng, "conv1", [p.c_in, p.c_out, 3, p.stride]),
                    bn1: Bn::declare(b, &format!("{}.bn1", p.name), p.c_out, bn),
                    conv2: conv(b, rng, "conv2", [p.c_out, p.c_out, 3, 1]),
                    bn2: Bn::declare(b, &format!("{}.bn2", p.name), p.c_out, bn),
                    shortcut_pad: p.changes_shape().then_some(p.c_out / 4),
                }
            })
            .collect();
        let linear = Linear::declare(b, rng, "linear", 64, classes, true);
        ResNet {
            conv1,
            bn1,
            blocks,
            linear,
        }
    }

    pub fn forward(
        &self,
        tape: &mut Tape,
        params: &ParamStore,
        x: &Var,
        pass: &Pass,
    ) -> Result<Var> {
        let h = self.conv1.forward(tape, params, x)?;
        let mut h = self.bn1.forward_relu(tape, params, &h, pass)?;
        for block in &self.blocks {
            // Reassigned, not shadowed: see Wrn::forward.
            let mut out = block.conv1.forward(tape, params, &h)?;
            out = block.bn1.forward_relu(tape, params, &out, pass)?;
            out = block.conv2.forward(tape, params, &out)?;
            let shortcut = match block.shortcut_pad {
                Some(pad) => ops::shortcut(tape, &h, pad)?,
                None => h,
            };
            h = block
                .bn2
                .forward_add_relu(tape, params, &out, &shortcut, pass)?;
        }
        let h = ops::global_avg_pool(tape, &h)?;
        self.linear.forward(tape, params, &h)
    }
}
