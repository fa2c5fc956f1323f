//! purenoise: pure-noise oversampling (OPeN) and distribution-aware routing batch norm (DAR-BN)
//! on a from-scratch wgpu training stack.
//!
//! Data flows one way: CLI -> training loop -> model -> [`ops`] -> [`gpu`]. [`autograd`] records
//! the ops' backward passes; [`reference`] holds the f64 CPU versions the kernels are tested
//! against.

pub mod atomic;
pub mod autograd;
pub mod bench;
pub mod data;
pub mod error;
pub mod gpu;
pub mod input;
pub mod models;
pub mod ops;
pub mod optim;
pub mod params;
pub mod progress;
pub mod random;
pub mod reference;
pub mod report;
pub mod tensor;
pub mod train;
pub mod tune;

pub use error::{Error, Result};
