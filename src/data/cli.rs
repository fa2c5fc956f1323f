//! Command-line surface of the data layer: `purenoise dataset fetch|stats`, and the data flags
//! a training command flattens in ([`DataArgs`]).

use std::path::{Path, PathBuf};

use super::augment::{AugmentConfig, AugmentLevel};
use super::cifar::{resolve_data_dir, Cifar, DatasetKind};
use super::error::{DataError, Result};
use super::fetch::{archive_url, fetch, official_md5, FetchRequest};
use super::sampler::SamplerKind;
use super::stats::subset_stats;
use super::subset::{class_counts, read_indices, select_long_tailed, write_indices};

#[derive(clap::Subcommand, Debug, Clone)]
pub enum DatasetCommand {
    /// Download the official archive (resumable), verify its MD5 and extract it.
    Fetch(FetchArgs),
    /// Per-class counts, many/medium/few split and pixel mean/std of a training subset.
    Stats(StatsArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct FetchArgs {
    /// Which dataset.
    #[arg(long, value_enum, default_value_t = DatasetKind::Cifar10)]
    pub dataset: DatasetKind,
    /// The same as --dataset (the form of earlier versions: `dataset fetch cifar100`).
    #[arg(
        value_enum,
        hide = true,
        conflicts_with = "dataset",
        value_name = "DATASET"
    )]
    pub positional: Option<DatasetKind>,
    /// Data folder [default: $PURENOISE_DATA_DIR, else ./data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Base URL of a mirror holding the official archive name
    /// [default: $PURENOISE_CIFAR_MIRROR, else https://www.cs.toronto.edu/~kriz].
    #[arg(long)]
    pub mirror: Option<String>,
    /// Expected MD5 of the archive [default: the official one].
    #[arg(long)]
    pub md5: Option<String>,
}

/// Which training images to use.
#[derive(clap::Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SubsetArgs {
    /// Which dataset.
    #[arg(long, value_enum, default_value_t = DatasetKind::Cifar10)]
    pub dataset: DatasetKind,
    /// Data folder [default: $PURENOISE_DATA_DIR, else ./data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Long-tailed subset with this max/min class ratio (≥ 1) [default: 100 for `train`, the whole
    /// training file for `dataset stats`].
    #[arg(long, conflicts_with = "subset_indices")]
    pub imbalance: Option<f64>,
    /// Seed of the numpy-legacy MT19937 subset selection (0 reproduces the reference subsets).
    #[arg(long, default_value_t = 0)]
    pub subset_seed: u32,
    /// File of training-file indices to use instead, one per line.
    #[arg(long)]
    pub subset_indices: Option<PathBuf>,
    /// Images of the largest class in the long-tailed subset [default: all the file holds];
    /// smaller values give small subsets with the same imbalance, for quick runs.
    #[arg(long)]
    pub max_class_size: Option<usize>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct StatsArgs {
    #[command(flatten)]
    pub subset: SubsetArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the chosen training indices to FILE, one per line.
    #[arg(long, value_name = "FILE")]
    pub indices: Option<PathBuf>,
}

/// A chosen training subset.
#[derive(Clone, Debug)]
pub struct Subset {
    /// Indices into the training file.
    pub indices: Vec<usize>,
    /// Caveat for the user, e.g. that the file is already long-tailed.
    pub note: Option<String>,
}

impl SubsetArgs {
    pub fn data_dir(&self) -> PathBuf {
        resolve_data_dir(self.data_dir.as_deref())
    }

    pub fn load(&self) -> Result<Cifar> {
        Cifar::load(self.dataset, &self.data_dir())
    }

    pub fn select(&self, cifar: &Cifar) -> Result<Subset> {
        let train = &cifar.train;
        if let Some(path) = &self.subset_indices {
            let note = self.max_class_size.map(|m| {
                format!(
                    "warning: --max-class-size {m} is ignored: --subset-indices {} chooses the \
                     training images (leave out one of the two)",
                    path.display()
                )
            });
            return Ok(Subset {
                indices: read_indices(path, train.len())?,
                note,
            });
        }
        let Some(r) = self.imbalance else {
            if self.max_class_size.is_some() {
                return Err(DataError::arg(
                    "--max-class-size",
                    "applies to long-tailed subsets: give --imbalance too",
                ));
            }
            return Ok(Subset {
                indices: (0..train.len()).collect(),
                note: None,
            });
        };
        let indices = select_long_tailed(
            &train.labels,
            &cifar.class_names,
            r,
            self.max_class_size,
            self.subset_seed,
            &train.source,
        )?;
        let counts = class_counts(&train.labels, cifar.class_names.len());
        let balanced = counts.iter().all(|&c| c == counts[0]);
        let note = (!balanced).then(|| {
            format!(
                "note: the training file {} is already imbalanced, so the subset is drawn from it \
                 and differs image for image from the reference subset of the full official set",
                train.source
            )
        });
        Ok(Subset { indices, note })
    }
}

pub fn run(cmd: DatasetCommand) -> Result<()> {
    match cmd {
        DatasetCommand::Fetch(mut a) => {
            a.dataset = a.positional.unwrap_or(a.dataset);
            let req = FetchRequest {
                kind: a.dataset,
                url: archive_url(a.dataset, a.mirror.as_deref()),
                md5: a.md5.unwrap_or_else(|| official_md5(a.dataset).to_string()),
                data_dir: resolve_data_dir(a.data_dir.as_deref()),
                progress: true,
            };
            let got = fetch(&req)?;
            if got.downloaded {
                println!(
                    "{}: downloaded {} (MD5 verified) and extracted to {}",
                    a.dataset.name(),
                    got.archive.display(),
                    got.dir.display()
                );
            } else {
                println!(
                    "{}: already present in {}; nothing downloaded",
                    a.dataset.name(),
                    got.dir.display()
                );
            }
            Ok(())
        }
        DatasetCommand::Stats(a) => {
            let cifar = a.subset.load()?;
            if let Some(path) = &a.indices {
                check_index_list_replaceable(path, cifar.train.len())?;
            }
            let subset = a.subset.select(&cifar)?;
            let stats = subset_stats(&cifar.train, &subset.indices, &cifar.class_names);
            if let Some(path) = &a.indices {
                write_indices(path, &subset.indices)?;
            }
            if a.json {
                let mut v = serde_json::to_value(&stats).expect("stats serialise");
                v["dataset"] = a.subset.dataset.name().into();
                v["imbalance"] = a.subset.imbalance.into();
                v["source"] = cifar.location.display().to_string().into();
                v["note"] = subset.note.clone().into();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&v).expect("json value prints")
                );
            } else {
                println!(
                    "{} training subset from {}{}",
                    a.subset.dataset.name(),
                    cifar.location.display(),
                    a.subset
                        .imbalance
                        .map(|r| format!(", imbalance {r}"))
                        .unwrap_or_default()
                );
                print!("{}", stats.table());
                if let Some(n) = &subset.note {
                    println!("{n}");
                }
            }
            Ok(())
        }
    }
}

#[derive(clap::Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SamplerArgs {
    /// Training method: how each epoch's images are drawn (and, for open, replaced by noise).
    #[arg(long = "method", alias = "sampler", value_enum, default_value_t = SamplerKind::Open)]
    pub sampler: SamplerKind,
    /// First (0-based) epoch of re-sampling for drs/open.
    #[arg(long, default_value_t = 160)]
    pub defer_epoch: usize,
    /// OPeN δ: class c's images become noise with probability (1 − n_c/n_max)·δ.
    #[arg(long, default_value_t = 1.0 / 3.0)]
    pub delta: f64,
}

#[derive(clap::Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AugmentArgs {
    /// Training augmentation, in the reference's order: flip, crop, Cutout, colour jitter,
    /// grayscale, blur (full); flip and crop only (basic); none.
    #[arg(long, value_enum, default_value_t = AugmentLevel::Full)]
    pub augment: AugmentLevel,
    /// Probability of a horizontal flip.
    #[arg(long, default_value_t = 0.5)]
    pub flip_p: f32,
    /// Zero padding on each side before the random 32×32 crop.
    #[arg(long, default_value_t = 4)]
    pub crop_padding: usize,
    /// Side of the Cutout hole (0 = off).
    #[arg(long, default_value_t = 16)]
    pub cutout: usize,
    /// Colour jitter: brightness factor drawn from [1 − x, 1 + x].
    #[arg(long, default_value_t = 0.4)]
    pub brightness: f32,
    /// Colour jitter: contrast factor drawn from [1 − x, 1 + x].
    #[arg(long, default_value_t = 0.4)]
    pub contrast: f32,
    /// Colour jitter: saturation factor drawn from [1 − x, 1 + x].
    #[arg(long, default_value_t = 0.4)]
    pub saturation: f32,
    /// Colour jitter: hue shift drawn from [−h, h] (at most 0.5).
    #[arg(long, default_value_t = 0.1)]
    pub hue: f32,
    /// Probability of applying the colour jitter.
    #[arg(long, default_value_t = 0.8)]
    pub jitter_p: f32,
    /// Probability of turning an image gray.
    #[arg(long, default_value_t = 0.2)]
    pub grayscale_p: f32,
    /// Side of the Gaussian blur kernel (odd).
    #[arg(long, default_value_t = 3)]
    pub blur_kernel: usize,
    /// σ range MIN MAX (or MIN,MAX).
    #[arg(long, num_args = 1.., value_delimiter = ',', default_values_t = [0.1, 2.0])]
    pub blur_sigma: Vec<f32>,
    /// Probability of applying the Gaussian blur.
    #[arg(long, default_value_t = 0.5)]
    pub blur_p: f32,
    /// Normalisation mean R G B (or R,G,B) [default: the dataset's standard statistics].
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    pub norm_mean: Option<Vec<f32>>,
    /// Normalisation std R G B (or R,G,B) [default: the dataset's standard statistics].
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    pub norm_std: Option<Vec<f32>>,
}

impl AugmentArgs {
    pub fn config(&self, kind: DatasetKind) -> Result<AugmentConfig> {
        let (mean, std) = kind.standard_mean_std();
        let three = |flag: &'static str, v: &Option<Vec<f32>>, default: [f32; 3]| match v {
            None => Ok(default),
            Some(v) => <[f32; 3]>::try_from(v.as_slice()).map_err(|_| {
                DataError::arg(
                    flag,
                    format!("expected 3 values R G B (or R,G,B), got {v:?}"),
                )
            }),
        };
        let sigma = match self.blur_sigma.as_slice() {
            [lo, hi] => (*lo, *hi),
            v => {
                return Err(DataError::arg(
                    "--blur-sigma",
                    format!("expected 2 values MIN MAX (or MIN,MAX), got {v:?}"),
                ))
            }
        };
        let cfg = AugmentConfig {
            level: self.augment,
            flip_p: self.flip_p,
            crop_padding: self.crop_padding,
            cutout: self.cutout,
            brightness: self.brightness,
            contrast: self.contrast,
            saturation: self.saturation,
            hue: self.hue,
            jitter_p: self.jitter_p,
            grayscale_p: self.grayscale_p,
            blur_kernel: self.blur_kernel,
            blur_sigma: sigma,
            blur_p: self.blur_p,
            mean: three("--norm-mean", &self.norm_mean, mean)?,
            std: three("--norm-std", &self.norm_std, std)?,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Every data flag of a training run; flatten into the train command.
#[derive(clap::Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DataArgs {
    #[command(flatten)]
    pub subset: SubsetArgs,
    #[command(flatten)]
    pub sampler: SamplerArgs,
    #[command(flatten)]
    pub augment: AugmentArgs,
    /// Batch-producing worker threads.
    #[arg(long, default_value_t = 2)]
    pub data_workers: usize,
    /// Finished batches that may wait for the consumer.
    #[arg(long, default_value_t = 4)]
    pub prefetch: usize,
}

/// `--indices FILE` replaces an earlier index list, never another file (a typo for a file that
/// matters, say).
fn check_index_list_replaceable(path: &Path, n_train: usize) -> Result<()> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    read_indices(path, n_train).map(drop).map_err(|e| {
        DataError::arg(
            "--indices",
            format!(
                "{} is there and is not an index list of this training file ({e}); it was left \
                 as it is. Choose another file, or move it away",
                path.display()
            ),
        )
    })
}
