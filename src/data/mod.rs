//! The data layer: CIFAR loading and download, long-tailed subsets, samplers, augmentation and
//! the batch producer that feeds the GPU.

pub mod augment;
pub mod bench;
pub mod cifar;
pub mod cli;
pub mod error;
pub mod fetch;
pub mod loader;
pub mod pipeline;
pub mod sampler;
pub mod stats;
pub mod subset;

pub use bench::{bench_data, BenchDataArgs, BenchReport};
pub use cli::{run, DataArgs, DatasetCommand};
pub use error::DataError;
pub use loader::{Batch, Loader};
pub use pipeline::DataPipeline;
