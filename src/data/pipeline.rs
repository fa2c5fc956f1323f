//! What a training run gets from the data layer: the dataset, its long-tailed subset and the
//! loader, built from the data flags ([`DataArgs`]).

use std::sync::Arc;

use super::cifar::Cifar;
use super::cli::{DataArgs, Subset};
use super::error::Result;
use super::loader::{Loader, LoaderConfig, TrainImages};
use super::sampler::{Sampler, SamplerConfig};

/// Everything a training run needs from the data layer.
pub struct DataPipeline {
    pub cifar: Cifar,
    /// Training-file indices of the subset.
    pub subset: Subset,
    pub loader: Loader,
    /// Normalisation constants (also for the test set).
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl DataArgs {
    /// Loads the data, chooses the subset and builds the training loader.
    pub fn build(&self, batch_size: usize, seed: u64) -> Result<DataPipeline> {
        let cifar = self.subset.load()?;
        let subset = self.subset.select(&cifar)?;
        let augment = self.augment.config(cifar.kind)?;
        let images = Arc::new(TrainImages::gather(&cifar.train, &subset.indices));
        let sampler = Sampler::new(
            &images.labels,
            cifar.class_names.len(),
            SamplerConfig {
                kind: self.sampler.sampler,
                defer_epoch: self.sampler.defer_epoch,
                delta: self.sampler.delta,
                seed,
            },
        )?;
        let (mean, std) = (augment.mean, augment.std);
        let loader = Loader::new(
            images,
            sampler,
            augment,
            LoaderConfig {
                batch_size,
                workers: self.data_workers,
                prefetch: self.prefetch,
                drop_last: false,
                seed,
            },
        )?;
        Ok(DataPipeline {
            cifar,
            subset,
            loader,
            mean,
            std,
        })
    }
}
