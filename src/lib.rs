//! purenoise: pure-noise oversampling (OPeN) and distribution-aware routing batch norm (DAR-BN)
//! on a from-scratch wgpu training stack.
//!
//! Dependencies point one way, down this diagram (tests/layers.rs checks every `crate::` path
//! against it; a module may use its own layer and those below):
//!
//! ```text
//! train::sweep                  sweeps of training runs, summarised by report
//! report, bench                 run folders read back; benchmarks of the real step
//! train                         flags, the loop, checkpoints (the CLI is src/main.rs, on top)
//! tune                          convolution choices timed per model and adapter
//! models                        WideResNet, ResNet
//! ops, autograd, optim          kernels' ops; the tape records their backward passes; SGD
//! params                        named parameters in GPU arenas
//! gpu                           device, tensors, buffer pool, pipelines, dispatch
//! data                          CIFAR, subsets, samplers, augmentation, the loader (no GPU)
//! error, input, atomic, lockfile, random, reference, progress
//! ```
//!
//! [`reference`] holds the f64 CPU versions the kernels are tested against.

pub mod atomic;
pub mod autograd;
pub mod bench;
pub mod data;
pub mod error;
pub mod gpu;
pub mod input;
pub mod lockfile;
pub mod models;
pub mod ops;
pub mod optim;
pub mod params;
pub mod progress;
pub mod random;
pub mod reference;
pub mod report;
pub mod train;
pub mod tune;

pub use error::{Error, Result};
