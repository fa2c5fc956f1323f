//! Training: checkpoints and evaluation metrics.

pub mod checkpoint;
pub mod metrics;
