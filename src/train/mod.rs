//! Training: checkpoints and evaluation metrics.

pub mod checkpoint;
