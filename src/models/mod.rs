//! The models: pre-activation WideResNets and CIFAR ResNets, with PyTorch state-dict names so a
//! checkpoint loads into the reference implementations.

mod layers;
mod layout;
mod resnet;
mod wrn;

use std::fmt;
use std::str::FromStr;

use rand::SeedableRng;
use rand_pcg::Pcg64;

pub use layout::{conv_layers, ConvLayer};

use crate::autograd::{Tape, Var};
use crate::error::{Error, Result};
use crate::gpu::tensor::{Precision, Tensor};
use crate::gpu::Gpu;
use crate::ops::noise::NoiseMask;
use crate::params::{NamedShapes, ParamStore, ParamStoreBuilder};

/// How a model's batch norms treat pure-noise samples (`--bn`; its command-line values are
/// given in `train::args`, the layer that owns the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BnMode {
    /// Distribution-aware routing: separate statistics for noise, gradients from natural images only.
    DarBn,
    /// Ordinary batch norm over natural and noise samples together.
    Standard,
    /// An auxiliary batch norm (own γ/β and running statistics) for noise samples.
    AuxBn,
}

/// Which network: `wrn-D-K` (D = 6n + 4) or `resnet-D` (D = 6n + 2, e.g. resnet-32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    Wrn { depth: usize, widen: usize },
    ResNet { depth: usize },
}

impl FromStr for ModelKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<ModelKind> {
        let bad = |why: &str| {
            Error::Invalid(format!(
                "--model `{s}`: {why}; models are wrn-D-K (D = 10, 16, 22, 28, 40, …; K ≥ 1, e.g. \
                 wrn-28-10, wrn-16-4) and resnet-D (D = 8, 14, 20, 26, 32, …, e.g. resnet-32)"
            ))
        };
        let number = |part: &str| {
            part.parse::<usize>()
                .map_err(|_| bad(&format!("`{part}` is not a number")))
        };
        let parts: Vec<&str> = s.split('-').collect();
        match parts[..] {
            ["wrn", d, k] => {
                let (depth, widen) = (number(d)?, number(k)?);
                if depth < 10 || (depth - 4) % 6 != 0 {
                    return Err(bad("a WideResNet's depth must be 6n + 4 with n ≥ 1"));
                }
                if widen == 0 {
                    return Err(bad("the widening factor must be at least 1"));
                }
                Ok(ModelKind::Wrn { depth, widen })
            }
            ["resnet", d] => {
                let depth = number(d)?;
                if depth < 8 || (depth - 2) % 6 != 0 {
                    return Err(bad("a CIFAR ResNet's depth must be 6n + 2 with n ≥ 1"));
                }
                Ok(ModelKind::ResNet { depth })
            }
            _ => Err(bad("unknown model")),
        }
    }
}

impl ModelKind {
    /// Elements of the largest activation one 32x32 sample produces (the first stage's output),
    /// which bounds the batch size by the adapter's binding limit.
    pub fn largest_activation_per_sample(&self) -> usize {
        let first_stage = match self {
            ModelKind::Wrn { widen, .. } => widen.saturating_mul(16),
            ModelKind::ResNet { .. } => 16,
        };
        first_stage.saturating_mul(32 * 32)
    }

    /// Its convolution and classifier weights for `classes` classes: every parameter but batch
    /// norm's (a fraction of a percent of the rest), from the shapes alone and in f64, so that
    /// a model too large for the adapter is refused before its weights are drawn.
    pub fn weights(&self, classes: usize) -> f64 {
        let (per_stage, widths, projections) = match *self {
            ModelKind::Wrn { depth, widen } => {
                let k = widen as f64;
                ((depth - 4) / 6, [16.0 * k, 32.0 * k, 64.0 * k], true)
            }
            ModelKind::ResNet { depth } => ((depth - 2) / 6, [16.0, 32.0, 64.0], false),
        };
        let n = per_stage as f64;
        let mut c_in = 16.0;
        let mut total = 3.0 * 16.0 * 9.0;
        for (stage, c) in widths.into_iter().enumerate() {
            // The first block changes the shape (3x3 c_in -> c, a 1x1 projection shortcut on a
            // WideResNet where the shape changes); the others are two 3x3 c -> c.
            total += 9.0 * c_in * c + 9.0 * c * c + (n - 1.0) * 18.0 * c * c;
            if projections && (stage > 0 || c_in != c) {
                total += c_in * c;
            }
            c_in = c;
        }
        total + (c_in + 1.0) * classes as f64
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelKind::Wrn { depth, widen } => write!(f, "wrn-{depth}-{widen}"),
            ModelKind::ResNet { depth } => write!(f, "resnet-{depth}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelConfig {
    pub kind: ModelKind,
    pub classes: usize,
    pub bn: BnMode,
    /// Dropout probability inside WideResNet blocks (ResNets have none).
    pub dropout: f32,
}

/// What one forward pass needs besides the input.
pub struct Pass<'a> {
    pub training: bool,
    /// Which samples are pure noise (routes DAR-BN/AuxBN); None = all natural.
    pub mask: Option<&'a NoiseMask>,
    /// Seeds this step's dropout masks.
    pub dropout_seed: u64,
}

enum Net {
    Wrn(wrn::Wrn),
    ResNet(resnet::ResNet),
}

pub struct Model {
    pub config: ModelConfig,
    pub params: ParamStore,
    /// How activations are stored: the input's element type ([`Model::input`]), which every op
    /// passes on to its output and gradients. Parameters are f32 either way. Also what a step
    /// asks to decide on loss scaling.
    pub precision: Precision,
    net: Net,
}

impl Model {
    /// Declares every parameter and buffer with its initialization (seeded), without a GPU.
    fn declare(config: &ModelConfig, seed: u64) -> Result<(ParamStoreBuilder, Net)> {
        if config.classes < 2 {
            return Err(Error::Invalid(format!(
                "a classifier needs at least 2 classes, got {}",
                config.classes
            )));
        }
        if !(0.0..1.0).contains(&config.dropout) {
            return Err(Error::Invalid(format!(
                "--dropout {} is outside [0, 1)",
                config.dropout
            )));
        }
        let mut b = ParamStore::builder();
        let mut rng = Pcg64::seed_from_u64(seed);
        let net = match config.kind {
            ModelKind::Wrn { depth, widen } => Net::Wrn(wrn::Wrn::declare(
                &mut b,
                &mut rng,
                depth,
                widen,
                config.classes,
                config.bn,
                config.dropout,
            )),
            ModelKind::ResNet { depth } => Net::ResNet(resnet::ResNet::declare(
                &mut b,
                &mut rng,
                depth,
                config.classes,
                config.bn,
            )),
        };
        Ok((b, net))
    }

    /// Parameter and buffer names with their shapes, in declaration order (no GPU needed).
    pub fn spec(config: &ModelConfig) -> Result<(NamedShapes, NamedShapes)> {
        Ok(Self::declare(config, 0)?.0.spec())
    }

    pub fn new(gpu: &Gpu, config: ModelConfig, seed: u64) -> Result<Model> {
        // The parameters are one buffer of each arena, and SGD indexes them in 32 bits.
        let what = format!("the parameters of {}", config.kind);
        let bytes = (4.0 * config.kind.weights(config.classes)).min(u64::MAX as f64) as u64;
        gpu.check_buffer("model", &what, bytes)?;
        let indexed = 4 * u32::MAX as u64;
        if bytes > indexed {
            return Err(Error::Limit {
                op: "model",
                what,
                bytes,
                limit_name: "2^32 parameters (SGD indexes them in 32 bits)",
                limit: indexed,
            });
        }
        let (builder, net) = Self::declare(&config, seed)?;
        Ok(Model {
            config,
            params: builder.build(gpu)?,
            precision: Precision::F32,
            net,
        })
    }

    /// The model with activations stored as `precision` says; refused (naming the adapter)
    /// where the adapter cannot run it.
    pub fn with_precision(mut self, gpu: &Gpu, precision: Precision) -> Result<Model> {
        gpu.check_precision(precision)?;
        self.precision = precision;
        Ok(self)
    }

    /// Images [n, 3, 32, 32] (normalized, f32 on the host) uploaded as the network's input, in
    /// the element type of its activations.
    pub fn input(&self, gpu: &Gpu, images: &[f32], n: usize) -> Result<Tensor> {
        gpu.upload_as(images, &[n, 3, 32, 32], self.precision.activations())
    }

    /// Logits [N, classes] for images [N, 3, H, W].
    pub fn forward(&self, tape: &mut Tape, x: &Var, pass: &Pass) -> Result<Var> {
        match &self.net {
            Net::Wrn(net) => net.forward(tape, &self.params, x, pass),
            Net::ResNet(net) => net.forward(tape, &self.params, x, pass),
        }
    }
}
