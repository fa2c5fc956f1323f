//! Pre-activation WideResNet-d-k in torchdistill's layout: stem conv 3x3 (3 -> 16); three stages
//! of n = (d - 4) / 6 blocks of widths 16k, 32k, 64k with strides 1, 2, 2; then BN -> ReLU ->
//! global average pool -> fc. A block: BN -> ReLU -> conv3x3 (stride) -> dropout -> BN -> ReLU ->
//! conv3x3, plus the block's input through a shortcut (identity, or a strided 1x1 conv when the
//! shape changes). Convolutions are Kaiming-normal (fan out), the linear layer PyTorch's default.

use rand_pcg::Pcg64;

use super::layers::{block_plan, Bn, Conv, Fan, Linear};
use super::BnMode;
use super::Pass;
use crate::autograd::{Tape, Var};
use crate::error::Result;
use crate::ops::activation::DropoutSeed;
use crate::ops::{self};
use crate::params::{ParamStore, ParamStoreBuilder};

struct Block {
    bn1: Bn,
    conv1: Conv,
    bn2: Bn,
    conv2: Conv,
    shortcut: Option<Conv>,
    /// Dropout stream: tells this block's mask apart from the others'.
    stream: u32,
}

pub struct Wrn {
    conv1: Conv,
    blocks: Vec<Block>,
    bn1: Bn,
    fc: Linear,
    dropout: f32,
}

impl Wrn {
    pub fn declare(
        b: &mut ParamStoreBuilder,
        rng: &mut Pcg64,
        depth: usize,
        widen: usize,
        classes: usize,
        bn: BnMode,
        dropout: f32,
    ) -> Wrn {
        let per_stage = (depth - 4) / 6;
        let conv1 = Conv::declare(b, rng, "conv1", [3, 16, 3, 1], Fan::Out);
        let widths = [16 * widen, 32 * widen, 64 * widen];
        let blocks = block_plan(per_stage, widths)
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let conv = |b: &mut ParamStoreBuilder, rng: &mut Pcg64, part: &str, shape| {
                    Conv::declare(b, rng, &format!("{}.{part}", p.name), shape, Fan::Out)
                };
                let shortcut = p
                    .changes_shape()
                    .then(|| conv(b, rng, "shortcut.0", [p.c_in, p.c_out, 1, p.stride]));
                Block {
                    bn1: Bn::declare(b, &format!("{}.bn1", p.name), p.c_in, bn),
                    conv1: conv(b, rng, "conv1", [p.c_in, p.c_out, 3, p.stride]),
                    bn2: Bn::declare(b, &format!("{}.bn2", p.name), p.c_out, bn),
                    conv2: conv(b, rng, "conv2", [p.c_out, p.c_out, 3, 1]),
                    shortcut,
                    stream: i as u32,
                }
            })
            .collect();
        let c_in = widths[2];
        let bn1 = Bn::declare(b, "bn1", c_in, bn);
        let fc = Linear::declare(b, rng, "fc", c_in, classes, false);
        Wrn {
            conv1,
            blocks,
            bn1,
            fc,
            dropout,
        }
    }

    pub fn forward(
        &self,
        tape: &mut Tape,
        params: &ParamStore,
        x: &Var,
        pass: &Pass,
    ) -> Result<Var> {
        let mut h = self.conv1.forward(tape, params, x)?;
        for block in &self.blocks {
            // One `out`, reassigned rather than shadowed, so each value no backward keeps (the
            // fused BN+ReLU outputs, the conv output before dropout) returns to the pool as soon
            // as the next one exists instead of at the end of the block.
            let mut out = block.bn1.forward_relu(tape, params, &h, pass)?;
            out = block.conv1.forward(tape, params, &out)?;
            if pass.training {
                let seed = DropoutSeed {
                    seed: pass.dropout_seed,
                    stream: block.stream,
                };
                out = ops::dropout(tape, &out, self.dropout, seed)?;
            }
            out = block.bn2.forward_relu(tape, params, &out, pass)?;
            out = block.conv2.forward(tape, params, &out)?;
            let shortcut = match &block.shortcut {
                Some(conv) => conv.forward(tape, params, &h)?,
                None => h,
            };
            h = ops::residual_add(tape, &out, &shortcut)?;
        }
        let h = self.bn1.forward_relu(tape, params, &h, pass)?;
        let h = ops::global_avg_pool(tape, &h)?;
        self.fc.forward(tape, params, &h)
    }
}
