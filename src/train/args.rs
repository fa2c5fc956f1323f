//! `purenoise train` flags. Defaults are the paper's recipe; `--preset quick` swaps in a run that
//! finishes in minutes on a software adapter. The resolved flags are saved as the run's
//! `config.json`, which `--resume` and `eval` read back.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::ArgMatches;

use super::error::{Result, TrainError};
use super::loss_scale::{self, check_initial_scale, LossScaleMode};
use crate::data::augment::AugmentLevel;
use crate::data::sampler::SamplerKind;
use crate::data::DataArgs;
use crate::gpu::tensor::Precision;
use crate::models::BnMode;

/// `--bn`'s values. The mode itself is the model's ([`BnMode`]); its spelling on the command
/// line is this layer's, so the layers below need no command-line code.
impl clap::ValueEnum for BnMode {
    fn value_variants<'a>() -> &'a [Self] {
        &[BnMode::DarBn, BnMode::Standard, BnMode::AuxBn]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let (name, help) = match self {
            BnMode::DarBn => (
                "darbn",
                "Distribution-aware routing: separate statistics for noise, gradients from natural images only",
            ),
            BnMode::Standard => (
                "standard",
                "Ordinary batch norm over natural and noise samples together",
            ),
            BnMode::AuxBn => (
                "auxbn",
                "An auxiliary batch norm (own γ/β and running statistics) for noise samples",
            ),
        };
        Some(clap::builder::PossibleValue::new(name).help(help))
    }
}

impl clap::ValueEnum for Precision {
    fn value_variants<'a>() -> &'a [Self] {
        &[Precision::F32, Precision::Mixed]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let help = match self {
            Precision::F32 => "Everything in f32",
            Precision::Mixed => {
                "Activations, the tensors saved for backward and activation gradients in f16 \
                 (about half a step's memory); weights, gradients, momentum, BN statistics and \
                 every sum in f32. Needs an adapter with SHADER_F16"
            }
        };
        Some(clap::builder::PossibleValue::new(self.name()).help(help))
    }
}

/// Where pure-noise pixels draw their per-channel mean/std from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum NoiseStatsSource {
    /// The dataset's standard normalization statistics (as the reference does).
    Dataset,
    /// The training subset's own statistics.
    Subset,
}

/// What a step with a non-finite (NaN or infinite) loss does.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum NanPolicy {
    /// Stop the run, naming the step and the first layer with a non-finite gradient.
    #[default]
    Stop,
    /// Leave the parameters, momentum and BN statistics as they were, count the step and go on
    /// (the run still stops after a whole epoch's worth of such steps in a row).
    Skip,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// resnet-8 on a 242-image CIFAR-10-LT subset for 4 epochs (OPeN from epoch 2), evaluated
    /// on 200 test images: minutes on a software adapter.
    Quick,
    /// resnet-8 on a 1,236-image CIFAR-10-LT subset (IR100, 500 to 5 images per class) for 20
    /// epochs, re-sampling (drs/open) from epoch 15 as the rate decays, flips and crops only,
    /// evaluated on 2,000 test images: long enough that ERM and OPeN/DRS differ on the rare
    /// classes (about 2 minutes per run on lavapipe with 2 idle cores).
    Small,
}

#[derive(clap::Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrainArgs {
    /// wrn-D-K (pre-activation WideResNet) or resnet-D (CIFAR ResNet, e.g. resnet-32).
    #[arg(long, default_value = "wrn-28-10")]
    pub model: String,
    /// Batch norm for batches with pure-noise images.
    #[arg(long, value_enum, default_value_t = BnMode::DarBn)]
    pub bn: BnMode,
    /// Epochs to train (numbered from 0, so the last is epoch EPOCHS − 1).
    #[arg(long, default_value_t = 200)]
    pub epochs: usize,
    /// Images per training step.
    #[arg(short, long, default_value_t = 128)]
    pub batch_size: usize,
    /// Base learning rate.
    #[arg(long, default_value_t = 0.1)]
    pub lr: f32,
    /// Epochs of linear warm-up: epoch e < W runs at lr·(e+1)/W.
    #[arg(long, default_value_t = 5)]
    pub warmup_epochs: usize,
    /// 0-based epochs at which the rate is multiplied by --lr-decay (`160 180` or `160,180`).
    #[arg(long, num_args = 1.., value_delimiter = ',', default_values_t = [160, 180])]
    pub milestones: Vec<usize>,
    /// Factor the rate is multiplied by at each of --milestones.
    #[arg(long, default_value_t = 0.01)]
    pub lr_decay: f32,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,
    /// Applied to every parameter, PyTorch style (d = g + wd·w).
    #[arg(long, default_value_t = 2e-4)]
    pub weight_decay: f32,
    /// Dropout inside WideResNet blocks.
    #[arg(long, default_value_t = 0.3)]
    pub dropout: f32,
    /// Seeds initialization, sampling, augmentation, dropout and noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub data: DataArgs,
    /// Normalize pure-noise images like natural ones (the reference leaves them in [0, 1]).
    #[arg(long)]
    pub noise_normalize: bool,
    /// Where pure-noise pixels take their per-channel mean and std from.
    #[arg(long, value_enum, default_value_t = NoiseStatsSource::Dataset)]
    pub noise_stats: NoiseStatsSource,
    /// Storage of activations and their gradients (README: "Mixed precision").
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    // Runs saved before this flag existed resume in f32.
    #[serde(default)]
    pub precision: Precision,
    /// What to do when a step's loss is NaN or infinite.
    #[arg(long, value_enum, default_value_t = NanPolicy::Stop)]
    // Runs saved before this flag existed resume with the default.
    #[serde(default)]
    pub nan_policy: NanPolicy,
    /// Dynamic loss scaling (PyTorch's GradScaler): the backward pass runs on the loss times a
    /// scale, steps whose gradients overflow are skipped and halve the scale, and the scale
    /// doubles after --loss-scale-growth-interval finite steps. Keeps small gradients of 16-bit
    /// activations from underflowing.
    #[arg(long, value_enum, default_value_t = LossScaleMode::Auto)]
    #[serde(default)]
    pub loss_scale: LossScaleMode,
    /// When loss scaling is on (--loss-scale dynamic, or auto with --precision mixed): the first
    /// scale, a power of two from 2^-126 to 2^126.
    #[arg(long, value_name = "SCALE", default_value_t = loss_scale::DEFAULT_INITIAL_SCALE)]
    #[serde(default = "default_initial_loss_scale")]
    pub initial_loss_scale: f32,
    /// When loss scaling is on: finite steps in a row after which the scale doubles.
    #[arg(long, value_name = "STEPS", default_value_t = loss_scale::DEFAULT_GROWTH_INTERVAL,
          value_parser = clap::value_parser!(u32).range(1..))]
    #[serde(default = "default_growth_interval")]
    pub loss_scale_growth_interval: u32,
    /// Evaluate on the test set every N epochs (and always after the last).
    #[arg(long, default_value_t = 1)]
    pub eval_every: usize,
    /// Evaluate on the first N test images only [default: all].
    #[arg(long)]
    pub eval_limit: Option<usize>,
    /// Run folder [default: runs/<model>-<dataset>-<method>-<bn>-<time>].
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Replace an existing run folder.
    #[arg(long)]
    pub overwrite: bool,
    /// Start from a checkpoint: a purenoise one, a PyTorch state dict saved as safetensors
    /// (F16/BF16/F32/F64, `module.` prefixes and `num_batches_tracked` accepted), or a
    /// torch.save file (a state dict, or a dict with `model_state_dict`, `optimizer_state_dict`
    /// and `finished_epoch`). Loads the parameters, BN statistics and, when the file holds them,
    /// SGD momentum buffers (`momentum.<name>`, `momentum_buffer.<name>`, or the optimizer's).
    #[arg(long, value_name = "CHECKPOINT")]
    pub init_from: Option<PathBuf>,
    /// With --init-from: the first (0-based) epoch to train, which sets the learning rate, the
    /// deferral (--defer-epoch) and the epoch numbers [default: the epoch after the one the
    /// checkpoint finished, when it records one (a purenoise checkpoint, or `finished_epoch` in
    /// a safetensors file's metadata); else 0; with --weights-only, 0].
    #[arg(long, value_name = "EPOCH", requires = "init_from")]
    #[serde(default)]
    pub start_epoch: Option<usize>,
    /// With --init-from: load only parameters and BN statistics, not momentum, and start at
    /// epoch 0 unless --start-epoch says otherwise.
    #[arg(long, requires = "init_from")]
    #[serde(default)]
    pub weights_only: bool,
    /// Settings for a first try; flags given explicitly still win.
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// Do not download the dataset when the data folder lacks it.
    #[arg(long)]
    pub no_download: bool,
    /// Stop after this many optimizer steps in all (the run can be resumed; with --resume it
    /// applies to the resumed run).
    #[arg(long)]
    #[serde(skip)]
    pub max_steps: Option<usize>,
    /// Without a terminal (a log file, CI), print a progress line (time, epoch/batch, loss,
    /// learning rate, images/s, time left in the whole run) every N batches [default: four
    /// lines per epoch, and one at least every 30 s]. On a terminal a bar shows the same.
    // Not a setting of the run: it may change on resume and is not saved.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    #[serde(skip)]
    pub log_interval: Option<u64>,
}

/// `--initial-loss-scale`'s default, for runs saved before the flag existed.
fn default_initial_loss_scale() -> f32 {
    loss_scale::DEFAULT_INITIAL_SCALE
}

/// `--loss-scale-growth-interval`'s default, for runs saved before the flag existed.
fn default_growth_interval() -> u32 {
    loss_scale::DEFAULT_GROWTH_INTERVAL
}

impl TrainArgs {
    /// Whether steps run with dynamic loss scaling: `--loss-scale dynamic`, or `auto` (the
    /// default) with `--precision mixed`.
    pub fn dynamic_loss_scale(&self) -> bool {
        match self.loss_scale {
            LossScaleMode::Auto => self.precision == Precision::Mixed,
            LossScaleMode::Off => false,
            LossScaleMode::Dynamic => true,
        }
    }

    /// Refuses values no run can use, naming the flag, before any data or GPU work.
    pub fn validate(&self) -> Result<()> {
        check_initial_scale(self.initial_loss_scale)?;
        // Far beyond any schedule (the paper's is 200), and small enough that epoch and step
        // counts stay exact.
        const MAX_EPOCHS: usize = 1_000_000;
        if !(1..=MAX_EPOCHS).contains(&self.epochs) {
            return Err(TrainError::arg(
                "--epochs",
                format!("must be 1 to {MAX_EPOCHS}, got {}", self.epochs),
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(TrainError::arg(
                "--lr",
                format!("must be a positive number, got {}", self.lr),
            ));
        }
        let usable = (0.0..1.0).contains(&self.momentum)
            && (0.0..f32::INFINITY).contains(&self.weight_decay)
            && self.lr_decay > 0.0
            && self.lr_decay.is_finite();
        if !usable {
            return Err(TrainError::arg(
                "--momentum/--weight-decay/--lr-decay",
                format!(
                    "need momentum in [0, 1), a finite weight decay ≥ 0 and a finite lr decay > 0; \
                     got {}, {}, {}",
                    self.momentum, self.weight_decay, self.lr_decay
                ),
            ));
        }
        // The convolution kernels index fewer than 2^22 positions (images × 32 × 32) per call.
        const MAX_BATCH: usize = (1 << 22) / (32 * 32) - 1;
        if self.batch_size > MAX_BATCH {
            return Err(TrainError::arg(
                "--batch-size",
                format!(
                    "at most {MAX_BATCH} (the convolution kernels take fewer than 2^22 pixel \
                     positions per call), got {}",
                    self.batch_size
                ),
            ));
        }
        if self.eval_limit == Some(0) {
            return Err(TrainError::arg(
                "--eval-limit",
                "must be at least 1 (leave it out to evaluate on the whole test set)",
            ));
        }
        if self.eval_every == 0 {
            return Err(TrainError::arg("--eval-every", "must be at least 1"));
        }
        if let Some(w) = self.milestones.windows(2).find(|w| w[0] >= w[1]) {
            return Err(TrainError::arg(
                "--milestones",
                format!(
                    "must be increasing epochs (each decays the rate once), but {} is followed by \
                     {}; give them in order, e.g. --milestones 160,180",
                    w[0], w[1]
                ),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(TrainError::arg(
                "--dropout",
                format!("must be in [0, 1), got {}", self.dropout),
            ));
        }
        // These paths are recorded in config.json and in every checkpoint, which are JSON text.
        for (flag, path) in [
            ("--out", &self.out),
            ("--init-from", &self.init_from),
            ("--data-dir", &self.data.subset.data_dir),
            ("--subset-indices", &self.data.subset.subset_indices),
        ] {
            if let Some(p) = path.as_ref().filter(|p| p.to_str().is_none()) {
                return Err(TrainError::arg(
                    flag,
                    format!(
                        "the path {} is not valid UTF-8, and purenoise records it in the run's \
                         config.json and checkpoints (JSON text); rename it, or pass a link to \
                         it whose name is UTF-8",
                        p.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Settings that cannot act in this run (the run still works; the user should know).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let sampler = &self.data.sampler;
        if matches!(sampler.sampler, SamplerKind::Drs | SamplerKind::Open)
            && sampler.defer_epoch >= self.epochs
        {
            out.push(format!(
                "--method {} starts at --defer-epoch {}, but the run has only {} epochs, so it \
                 never acts and this is plain ERM; lower --defer-epoch below --epochs (or use \
                 --method erm)",
                format!("{:?}", sampler.sampler).to_lowercase(),
                sampler.defer_epoch,
                self.epochs
            ));
        }
        let late: Vec<String> = (self.milestones.iter())
            .filter(|&&m| m >= self.epochs)
            .map(usize::to_string)
            .collect();
        if !late.is_empty() {
            out.push(format!(
                "--milestones: {} {} at or past the end of the run ({} epochs, 0 to {}), so the \
                 learning rate never decays there",
                late.join(","),
                if late.len() == 1 { "is" } else { "are" },
                self.epochs,
                self.epochs - 1
            ));
        }
        if !self.dynamic_loss_scale()
            && (self.initial_loss_scale != default_initial_loss_scale()
                || self.loss_scale_growth_interval != default_growth_interval())
        {
            out.push(
                "--initial-loss-scale and --loss-scale-growth-interval act only with \
                 loss scaling, which this run does not use (--loss-scale dynamic, or auto with \
                 --precision mixed)"
                    .to_string(),
            );
        }
        out
    }

    /// The long-tail ratio: training defaults to the paper's 100 (`--imbalance 1` = balanced).
    pub fn imbalance(&self) -> f64 {
        self.data.subset.imbalance.unwrap_or(100.0)
    }

    /// Applies `--preset` to every setting not given on the command line.
    pub fn apply_preset(&mut self, matches: &ArgMatches) {
        let Some(preset) = self.preset else {
            return;
        };
        let unset = |id: &str| matches.value_source(id) != Some(ValueSource::CommandLine);
        let small = preset == Preset::Small;
        if unset("model") {
            self.model = "resnet-8".into();
        }
        if unset("epochs") {
            self.epochs = if small { 20 } else { 4 };
        }
        if unset("batch_size") {
            self.batch_size = 32;
        }
        if unset("warmup_epochs") {
            self.warmup_epochs = 1;
        }
        if unset("milestones") {
            self.milestones = vec![if small { 15 } else { 3 }];
        }
        if unset("lr_decay") {
            self.lr_decay = 0.1;
        }
        // An index list chooses the images itself; a class-size cap would only be ignored.
        if unset("max_class_size") && self.data.subset.subset_indices.is_none() {
            self.data.subset.max_class_size = Some(if small { 500 } else { 100 });
        }
        if unset("defer_epoch") {
            self.data.sampler.defer_epoch = if small { 15 } else { 2 };
        }
        if unset("eval_limit") {
            self.eval_limit = Some(if small { 2000 } else { 200 });
        }
        if small {
            // Flips and crops only: the full pipeline's colour jitter, blur and Cutout slow the
            // learning of a few epochs down, and cost CPU time per image.
            if unset("augment") {
                self.data.augment.augment = AugmentLevel::Basic;
            }
            if unset("eval_every") {
                self.eval_every = 5;
            }
        }
    }
}

/// `train`'s flags as a command line of their own, for the unit tests of the modules that read
/// them.
#[cfg(test)]
#[derive(clap::Parser)]
pub(crate) struct TestCli {
    #[command(flatten)]
    pub(crate) args: TrainArgs,
}

#[cfg(test)]
impl TestCli {
    /// `train FLAGS` parsed as the command line parses them (no preset applied), with the
    /// matches that tell which flags were given.
    pub(crate) fn matches(flags: &[&str]) -> (TrainArgs, ArgMatches) {
        use clap::{CommandFactory, FromArgMatches};
        let matches = TestCli::command()
            .get_matches_from(std::iter::once("train").chain(flags.iter().copied()));
        let args = TestCli::from_arg_matches(&matches).unwrap().args;
        (args, matches)
    }
}

#[cfg(test)]
mod tests {
    use super::TestCli as Cli;
    use super::*;
    use clap::CommandFactory;

    fn parse(flags: &[&str]) -> TrainArgs {
        let (mut args, matches) = Cli::matches(flags);
        args.apply_preset(&matches);
        args
    }

    #[test]
    fn defaults_are_the_paper_recipe_and_presets_yield_to_explicit_flags() {
        let paper = parse(&[]);
        assert_eq!(
            (paper.model.as_str(), paper.epochs, paper.batch_size),
            ("wrn-28-10", 200, 128)
        );
        assert_eq!(
            (
                paper.lr,
                paper.warmup_epochs,
                paper.milestones.clone(),
                paper.lr_decay
            ),
            (0.1, 5, vec![160, 180], 0.01)
        );
        assert_eq!(
            (
                paper.momentum,
                paper.weight_decay,
                paper.dropout,
                paper.seed
            ),
            (0.9, 2e-4, 0.3, 0)
        );
        assert_eq!(
            (paper.bn, paper.imbalance(), paper.data.sampler.defer_epoch),
            (BnMode::DarBn, 100.0, 160)
        );
        assert!((paper.data.sampler.delta - 1.0 / 3.0).abs() < 1e-12);
        let quick = parse(&["--preset", "quick", "--epochs", "9", "--model", "wrn-10-1"]);
        assert_eq!((quick.model.as_str(), quick.epochs), ("wrn-10-1", 9));
        assert_eq!(
            (
                quick.batch_size,
                quick.eval_limit,
                quick.data.subset.max_class_size
            ),
            (32, Some(200), Some(100))
        );
        // An index list chooses the images, so the preset's class-size cap stays out of it.
        let listed = parse(&["--preset", "quick", "--subset-indices", "list.txt"]);
        assert_eq!(listed.data.subset.max_class_size, None);
        assert!(listed.warnings().is_empty(), "{:?}", listed.warnings());
    }

    #[test]
    fn the_small_preset_sets_its_run_and_yields_to_explicit_flags() {
        let small = parse(&["--preset", "small", "--method", "drs"]);
        assert_eq!(
            (small.model.as_str(), small.epochs, small.batch_size),
            ("resnet-8", 20, 32)
        );
        assert_eq!(
            (
                small.warmup_epochs,
                small.milestones.clone(),
                small.lr_decay
            ),
            (1, vec![15], 0.1)
        );
        assert_eq!(
            (
                small.data.subset.max_class_size,
                small.data.sampler.defer_epoch,
                small.data.augment.augment,
            ),
            (Some(500), 15, AugmentLevel::Basic)
        );
        assert_eq!((small.eval_limit, small.eval_every), (Some(2000), 5));
        assert_eq!((small.lr, small.imbalance()), (0.1, 100.0));
        assert!(small.validate().is_ok() && small.warnings().is_empty());
        let mine = parse(&[
            "--preset",
            "small",
            "--epochs",
            "30",
            "--augment",
            "full",
            "--eval-every",
            "1",
            "--defer-epoch",
            "20",
            "--max-class-size",
            "1000",
        ]);
        assert_eq!(
            (
                mine.epochs,
                mine.data.augment.augment,
                mine.eval_every,
                mine.data.sampler.defer_epoch,
                mine.data.subset.max_class_size
            ),
            (30, AugmentLevel::Full, 1, 20, Some(1000))
        );
        // The rest still comes from the preset.
        assert_eq!(
            (mine.model.as_str(), mine.milestones.clone()),
            ("resnet-8", vec![15])
        );
        // The quick preset leaves augmentation and evaluation spacing at their defaults.
        let quick = parse(&["--preset", "quick"]);
        assert_eq!(
            (quick.data.augment.augment, quick.eval_every),
            (AugmentLevel::Full, 1)
        );
    }

    #[test]
    fn list_flags_take_spaces_or_commas_alike_and_stop_at_the_next_flag() {
        let spaced = parse(&[
            "--milestones",
            "160",
            "180",
            "--epochs",
            "200",
            "--blur-sigma",
            "0.2",
            "1.5",
            "--norm-mean",
            "0.5",
            "0.4",
            "0.3",
            "--norm-std",
            "0.2",
            "0.3",
            "0.25",
            "--seed",
            "3",
        ]);
        let commas = parse(&[
            "--milestones",
            "160,180",
            "--epochs",
            "200",
            "--blur-sigma",
            "0.2,1.5",
            "--norm-mean",
            "0.5,0.4,0.3",
            "--norm-std",
            "0.2,0.3,0.25",
            "--seed",
            "3",
        ]);
        assert_eq!(spaced.milestones, [160, 180]);
        assert_eq!((spaced.epochs, spaced.seed), (200, 3));
        assert_eq!(spaced.data.augment.blur_sigma, [0.2, 1.5]);
        assert_eq!(spaced.data.augment.norm_mean, Some(vec![0.5, 0.4, 0.3]));
        assert_eq!(spaced.data.augment.norm_std, Some(vec![0.2, 0.3, 0.25]));
        assert_eq!(
            serde_json::to_value(&spaced).unwrap(),
            serde_json::to_value(&commas).unwrap()
        );
        // Both at once, as a shell script may build it.
        assert_eq!(
            parse(&["--milestones", "60", "120,160"]).milestones,
            [60, 120, 160]
        );
    }

    /// The default the help shows, given back as the flag's value, is the default.
    #[test]
    fn list_defaults_in_the_help_are_accepted_as_written() {
        let help = Cli::command().render_long_help().to_string();
        let paper = parse(&[]);
        for flag in ["--milestones", "--blur-sigma"] {
            let section = &help[help.find(&format!("{flag} <")).unwrap()..];
            let start = section.find("[default: ").unwrap() + "[default: ".len();
            let shown = &section[start..start + section[start..].find(']').unwrap()];
            let mut flags = vec![flag];
            flags.extend(shown.split(' '));
            let given = parse(&flags);
            assert_eq!(
                serde_json::to_value(&given).unwrap(),
                serde_json::to_value(&paper).unwrap(),
                "{flag} {shown}"
            );
        }
    }

    #[test]
    fn loss_scale_flags_default_to_auto_are_checked_and_absent_from_old_configs() {
        let paper = parse(&[]);
        assert_eq!(
            (
                paper.loss_scale,
                paper.initial_loss_scale,
                paper.loss_scale_growth_interval
            ),
            (LossScaleMode::Auto, 65536.0, 2000)
        );
        // Auto scales exactly when activations are f16; an explicit mode wins either way.
        assert!(!paper.dynamic_loss_scale());
        assert!(parse(&["--precision", "mixed"]).dynamic_loss_scale());
        assert!(!parse(&["--precision", "mixed", "--loss-scale", "off"]).dynamic_loss_scale());
        assert!(parse(&["--loss-scale", "dynamic"]).dynamic_loss_scale());
        let on = parse(&[
            "--loss-scale",
            "dynamic",
            "--initial-loss-scale",
            "0.25",
            "--loss-scale-growth-interval",
            "7",
        ]);
        assert_eq!(
            (
                on.loss_scale,
                on.initial_loss_scale,
                on.loss_scale_growth_interval
            ),
            (LossScaleMode::Dynamic, 0.25, 7)
        );
        assert!(on.validate().is_ok() && on.warnings().is_empty());
        let e = parse(&["--loss-scale", "dynamic", "--initial-loss-scale", "1000"])
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--initial-loss-scale") && e.contains("power of two") && e.contains("1000"),
            "{e}"
        );
        let e = Cli::command()
            .try_get_matches_from(["train", "--loss-scale-growth-interval", "0"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--loss-scale-growth-interval"), "{e}");
        let e = Cli::command()
            .try_get_matches_from(["train", "--loss-scale", "static"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--loss-scale") && e.contains("off") && e.contains("dynamic"),
            "{e}"
        );
        // The scale settings without scaling act on nothing.
        let w = parse(&["--initial-loss-scale", "1024"]).warnings();
        assert!(
            w.iter().any(|w| w.contains("act only with loss scaling")),
            "{w:?}"
        );
        // A config.json from before these flags reads as the defaults.
        let mut old = serde_json::to_value(&paper).unwrap();
        for key in [
            "loss_scale",
            "initial_loss_scale",
            "loss_scale_growth_interval",
        ] {
            old.as_object_mut().unwrap().remove(key).unwrap();
        }
        let read: TrainArgs = serde_json::from_value(old).unwrap();
        assert_eq!(
            serde_json::to_value(&read).unwrap(),
            serde_json::to_value(&paper).unwrap()
        );
    }

    #[test]
    fn milestones_out_of_order_are_refused_and_useless_settings_warned() {
        let e = parse(&["--milestones", "5,5"])
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--milestones") && e.contains("5 is followed by 5"),
            "{e}"
        );
        let w = parse(&[
            "--epochs",
            "4",
            "--milestones",
            "2,4,6",
            "--defer-epoch",
            "4",
        ])
        .warnings();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].starts_with(
                "--method open starts at --defer-epoch 4, but the run has only 4 epochs"
            ),
            "{w:?}"
        );
        assert!(
            w[1].starts_with(
                "--milestones: 4,6 are at or past the end of the run (4 epochs, 0 to 3)"
            ),
            "{w:?}"
        );
        let erm = parse(&["--epochs", "4", "--milestones", "2", "--method", "erm"]);
        assert!(erm.warnings().is_empty());
    }
}
