//! Training: flags, the learning-rate schedule, the loop, checkpoints and evaluation metrics.

pub mod args;
pub mod checkpoint;
pub mod error;
pub mod files;
pub mod import;
pub mod lock;
mod log;
pub mod loss_scale;
pub mod metrics;
pub mod plan;
pub mod pt;
pub mod resume;
pub mod run;
pub mod run_config;
pub mod schedule;
pub mod state;
pub mod step;
pub mod sweep;
pub mod trainer;
