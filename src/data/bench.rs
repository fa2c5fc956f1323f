//! `purenoise bench data`: images/s of the augmentation pipeline, through the threaded loader
//! exactly as training uses it.

use std::sync::Arc;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::augment::{AugmentConfig, AugmentLevel};
use super::cifar::{resolve_data_dir, Cifar, DatasetKind, IMAGE_BYTES};
use super::error::Result;
use super::loader::{Loader, LoaderConfig, TrainImages};
use super::sampler::{Sampler, SamplerConfig, SamplerKind};

#[derive(clap::Args, Debug, Clone)]
pub struct BenchDataArgs {
    /// Real CIFAR-10 training images from this folder instead of random pixels.
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Augmentation of each image, as `train --augment`.
    #[arg(long, value_enum, default_value_t = AugmentLevel::Full)]
    pub augment: AugmentLevel,
    /// Batch-producing worker threads.
    #[arg(long, default_value_t = 2)]
    pub data_workers: usize,
    /// Images per batch.
    #[arg(short, long, default_value_t = 128)]
    pub batch_size: usize,
    /// Images to produce (rounded up to whole epochs over 10,000 images).
    #[arg(long, default_value_t = 100_000)]
    pub images: usize,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchReport {
    pub images: usize,
    pub seconds: f64,
    pub images_per_sec: f64,
    pub workers: usize,
    pub augment: String,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "data: {} images with augment={} on {} worker(s) in {:.3} s = {:.0} images/s",
            self.images, self.augment, self.workers, self.seconds, self.images_per_sec
        )
    }
}

/// Runs the benchmark: ERM epochs over 10,000 images (real ones when `data_dir` is given).
pub fn bench_data(args: &BenchDataArgs) -> Result<BenchReport> {
    const POOL: usize = 10_000;
    let data = match &args.data_dir {
        Some(d) => {
            let c = Cifar::load(DatasetKind::Cifar10, &resolve_data_dir(Some(d)))?;
            let idx: Vec<usize> = (0..POOL).collect();
            TrainImages::gather(&c.train, &idx)
        }
        None => {
            let mut rng = Pcg64Mcg::seed_from_u64(0);
            TrainImages {
                images: (0..POOL * IMAGE_BYTES).map(|_| rng.random()).collect(),
                labels: (0..POOL).map(|i| (i % 10) as u32).collect(),
            }
        }
    };
    let (mean, std) = DatasetKind::Cifar10.standard_mean_std();
    let augment = AugmentConfig {
        level: args.augment,
        ..AugmentConfig::full(mean, std)
    };
    let sampler = Sampler::new(
        &data.labels,
        10,
        SamplerConfig {
            kind: SamplerKind::Erm,
            ..SamplerConfig::default()
        },
    )?;
    let loader = Loader::new(
        Arc::new(data),
        sampler,
        augment,
        LoaderConfig {
            batch_size: args.batch_size,
            workers: args.data_workers,
            ..LoaderConfig::default()
        },
    )?;
    let epochs = args.images.div_ceil(POOL).max(1);
    let start = Instant::now();
    let mut images = 0;
    for e in 0..epochs {
        let mut batches = loader.epoch(e);
        while let Some(b) = batches.next() {
            images += b.len();
            batches.recycle(b);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(BenchReport {
        images,
        seconds,
        images_per_sec: images as f64 / seconds,
        workers: args.data_workers,
        augment: format!("{:?}", args.augment).to_lowercase(),
    })
}
