//! The training commands: start a run, resume one, evaluate a checkpoint, dump one step.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde_json::json;

use super::args::TrainArgs;
use super::checkpoint::{self, Checkpoint, NamedTensor};
use super::error::{Result, TrainError};
use super::files::{
    check_free_space, remove_stale_temporaries, trim_metrics, write_atomic, BEST, CONFIG_FILE, LAST,
};
use super::metrics::EvalReport;
use super::run_config::RunConfig;
use super::state;
pub use super::trainer::Outcome;
use super::trainer::{Position, Trainer};
use crate::gpu::Gpu;
use crate::models::ModelKind;
use crate::optim::Sgd;
use crate::tune::{self, Cache, TuneMode};

/// Starts a new run from the parsed flags, the convolutions first tuned per `tune`.
pub fn train(gpu: &Gpu, mut args: TrainArgs, tune: TuneMode, stop: &AtomicBool) -> Result<Outcome> {
    // Training defaults to the paper's long tail.
    args.data.subset.imbalance.get_or_insert(100.0);
    let run_dir = match &args.out {
        Some(dir) => dir.clone(),
        None => default_run_dir(&args),
    };
    // Refuse an occupied folder before any work; create it only once the flags and data are good.
    let occupied = run_dir
        .read_dir()
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if occupied && !args.overwrite {
        return Err(TrainError::arg(
            "--out",
            format!(
                "{} already holds a run; pass --resume {0} to continue it, --overwrite to replace it, or another --out",
                run_dir.display()
            ),
        ));
    }
    let trainer = Trainer::new(gpu, RunConfig::new(args), run_dir.clone())?;
    trainer.init_from()?;
    // An occupied folder's old checkpoints are about to go, so they do not count as used.
    check_free_space(&run_dir, 3 * trainer.checkpoint_bytes())?;
    if occupied {
        fs::remove_dir_all(&run_dir).map_err(|e| TrainError::io("clear", &run_dir, e))?;
    }
    fs::create_dir_all(&run_dir).map_err(|e| TrainError::io("create", &run_dir, e))?;
    write_atomic(&run_dir.join(CONFIG_FILE), &trainer.config.to_json())?;
    tune_convolutions(gpu, &trainer.args, tune)?;
    trainer.run(Position::default(), stop)
}

/// `--tune`: the model's convolutions at the run's batch size, with a progress line; the
/// choices go to the ops through `gpu` and to the user's tuning cache.
fn tune_convolutions(gpu: &Gpu, args: &TrainArgs, mode: TuneMode) -> Result<()> {
    let kind: ModelKind = args.model.parse()?;
    let problems = tune::problems(kind, args.batch_size);
    let cache = Cache::user();
    let tuned = tune::tune(gpu, &problems, mode, &cache, &mut |done, total, p| {
        if done == 0 {
            eprintln!(
                "tuning {total} of {} convolution passes of {kind} at batch {} (once per adapter and shape; --tune off skips it)",
                problems.len(),
                args.batch_size
            );
        }
        eprint!("\rtuning {}/{total}: {:<40}", done + 1, p.describe());
    });
    let outcome = match tuned {
        Ok(outcome) => outcome,
        // Training then meets the same limit and says what to change, with the step's numbers.
        Err(e @ crate::Error::OutOfMemory { .. }) => {
            eprintln!("\ntuning stopped, the untuned kernels run: {e}");
            gpu.trim_pool();
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let measured = outcome.decisions.iter().filter(|d| d.measured).count();
    if measured > 0 {
        let cached = outcome.decisions.len() - measured;
        let place = outcome
            .cache
            .map_or("nowhere".into(), |p| p.display().to_string());
        eprintln!(
            "\rtuned {measured} convolution passes in {:.0} s ({cached} from the cache); saved in {place}",
            outcome.seconds
        );
    }
    Ok(())
}

/// Continues an interrupted run from its folder's last checkpoint, with its saved flags
/// (`max_steps` is this invocation's own limit).
pub fn resume(
    gpu: &Gpu,
    run_dir: &Path,
    max_steps: Option<usize>,
    tune: TuneMode,
    stop: &AtomicBool,
) -> Result<Outcome> {
    if !run_dir.join(CONFIG_FILE).exists() {
        return Err(TrainError::Other(format!(
            "{} holds no run to resume: {CONFIG_FILE} is missing (the run was stopped before \
             it started, or this is not a run folder); start it again with the same flags \
             and --overwrite",
            run_dir.display()
        )));
    }
    let mut config = RunConfig::read(run_dir)?;
    config.args.max_steps = max_steps;
    remove_stale_temporaries(run_dir);
    let ckpt_path = run_dir.join(LAST);
    if !ckpt_path.exists() {
        // Stopped after config.json was written but before the first checkpoint: nothing was
        // learned yet, so the kind thing is to start the same run over.
        let trainer = Trainer::new(gpu, config, run_dir.to_path_buf())?;
        trainer.init_from()?;
        check_free_space(run_dir, 3 * trainer.checkpoint_bytes())?;
        trim_metrics(run_dir, 0)?;
        eprintln!(
            "{} has no checkpoint yet (the run stopped before its first one); starting it from the beginning",
            run_dir.display()
        );
        tune_convolutions(gpu, &trainer.args, tune)?;
        return trainer.run(Position::default(), stop);
    }
    let ckpt = checkpoint::load(&ckpt_path)?;
    let position: Position =
        serde_json::from_value(ckpt.state["position"].clone()).map_err(|e| {
            TrainError::Other(format!(
                "{}: the checkpoint has no valid position: {e}",
                ckpt_path.display()
            ))
        })?;
    let trainer = Trainer::new(gpu, config, run_dir.to_path_buf())?;
    state::restore(gpu, &trainer.model, &ckpt_path, ckpt, true)?;
    // last (and best) already exist; their replacements need room beside them.
    let existing: u64 = [LAST, BEST]
        .iter()
        .filter_map(|f| fs::metadata(run_dir.join(f)).ok())
        .map(|m| m.len())
        .sum();
    check_free_space(
        run_dir,
        (3 * trainer.checkpoint_bytes()).saturating_sub(existing),
    )?;
    trim_metrics(run_dir, position.epoch)?;
    eprintln!(
        "resuming {} at epoch {}, batch {}",
        run_dir.display(),
        position.epoch,
        position.batch
    );
    tune_convolutions(gpu, &trainer.args, tune)?;
    trainer.run(position, stop)
}

fn default_run_dir(args: &TrainArgs) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    PathBuf::from("runs").join(
        format!(
            "{}-{}-ir{}-{:?}-{:?}-s{}-{secs}",
            args.model,
            args.data.subset.dataset.name(),
            args.imbalance(),
            args.data.sampler.sampler,
            args.bn,
            args.seed
        )
        .to_lowercase(),
    )
}

/// `purenoise dump-step`: one training step (dropout off) of the first batch of `epoch`,
/// written as one safetensors file: parameters and BN buffers before the step, the network
/// input (after augmentation, normalization and noise), labels, noise mask, logits, loss, the
/// gradient of every parameter (`grad.<name>`), and parameters and BN buffers after the
/// optimizer step (`next.<name>`).
pub fn dump_step(gpu: &Gpu, mut args: TrainArgs, epoch: usize, output: &Path) -> Result<()> {
    args.data.subset.imbalance.get_or_insert(100.0);
    args.dropout = 0.0;
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let trainer = Trainer::new(gpu, RunConfig::new(args), dir)?;
    let global_step = epoch * trainer.data.loader.batches_per_epoch();
    let batch = trainer
        .data
        .loader
        .epoch(epoch)
        .next()
        .ok_or_else(|| TrainError::Other("the training subset is empty".into()))?;
    let mut tensors = state::snapshot(gpu, &trainer.model, false)?;
    let [x, logits, loss] =
        trainer.forward_backward(&batch.images, &batch.labels, &batch.noise_mask, global_step)?;
    let as_f32 = |v: &[u32]| v.iter().map(|&u| u as f32).collect::<Vec<_>>();
    let n = batch.len();
    for (name, t) in [("input", &x), ("logits", &logits), ("loss", &loss)] {
        tensors.push(NamedTensor {
            name: name.into(),
            shape: t.shape().to_vec(),
            data: gpu.read(t)?,
        });
    }
    tensors.push(NamedTensor {
        name: "labels".into(),
        shape: vec![n],
        data: as_f32(&batch.labels),
    });
    tensors.push(NamedTensor {
        name: "noise_mask".into(),
        shape: vec![n],
        data: as_f32(&batch.noise_mask),
    });
    let params = &trainer.model.params;
    for id in params.ids() {
        let g = params.grad(id);
        tensors.push(NamedTensor {
            name: format!("grad.{}", params.name(id)),
            shape: g.shape().to_vec(),
            data: gpu.read(&g)?,
        });
    }
    let lr = trainer.schedule.lr(epoch);
    Sgd {
        lr,
        momentum: trainer.args.momentum,
        weight_decay: trainer.args.weight_decay,
    }
    .step(params)?;
    for mut t in state::snapshot(gpu, &trainer.model, false)? {
        t.name = format!("next.{}", t.name);
        tensors.push(t);
    }
    let state = json!({ "dump_step": { "epoch": epoch, "global_step": global_step, "lr": lr }, "config": trainer.args });
    checkpoint::save(output, &Checkpoint { tensors, state })?;
    eprintln!(
        "wrote one step of {} (batch of {n}, lr {lr}) to {}",
        trainer.args.model,
        output.display()
    );
    Ok(())
}

/// `purenoise eval`: the checkpoint's model on the test split (or the first `limit` images),
/// with the training subset's class counts for the many/medium/few groups. Writes
/// `metrics.json` and `per_class.csv` into `out` (default: the checkpoint's folder).
pub fn eval_checkpoint(
    gpu: &Gpu,
    path: &Path,
    data_dir: Option<PathBuf>,
    limit: Option<usize>,
    out: Option<PathBuf>,
) -> Result<EvalReport> {
    let ckpt = checkpoint::load(path)?;
    let mut args: TrainArgs =
        serde_json::from_value(ckpt.state["config"].clone()).map_err(|e| {
            TrainError::Other(format!(
                "{}: the checkpoint does not record its training configuration: {e}",
                path.display()
            ))
        })?;
    if data_dir.is_some() {
        args.data.subset.data_dir = data_dir;
    }
    args.no_download = true;
    let trainer = Trainer::new(
        gpu,
        RunConfig::new(args),
        path.parent().unwrap_or(Path::new(".")).to_path_buf(),
    )?;
    state::restore(gpu, &trainer.model, path, ckpt, false)?;
    let mut trainer = trainer;
    trainer.args.eval_limit = limit;
    let report = trainer.evaluate()?;
    let out = out.unwrap_or_else(|| trainer.run_dir.clone());
    fs::create_dir_all(&out).map_err(|e| TrainError::io("create", &out, e))?;
    report.write(&out)?;
    Ok(report)
}
