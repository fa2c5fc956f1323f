//! The training commands: start a run, resume one, evaluate a checkpoint, dump one step.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde_json::json;

use super::args::TrainArgs;
use super::checkpoint::{self, Checkpoint, NamedTensor};
use super::error::{Result, TrainError};
use super::files::{
    check_free_space, inspect_folder, list_names, remove_stale_temporaries, trim_metrics,
    write_atomic, FolderState, BEST, CONFIG_FILE, LAST, LOCK_FILE,
};
use super::import;
use super::lock::RunLock;
use super::loss_scale::{self, LossScaler};
use super::metrics::EvalReport;
use super::resume::{self, ResumeFrom, ResumeRequest};
use super::run_config::{RunConfig, StartedOn, SubsetCopy};
use super::state::{self, Momentum};
use super::step::{StepBatch, StepOutputs, StepResult};
pub use super::trainer::Outcome;
use super::trainer::{Position, Trainer};
use crate::atomic;
use crate::gpu::tensor::Precision;
use crate::gpu::Gpu;
use crate::models::BnMode;
use crate::models::ModelKind;
use crate::optim::Sgd;
use crate::progress::{Progress, Unit};
use crate::tune::{self, Cache, TuneMode};

/// Starts a new run from the parsed flags, the convolutions first tuned per `tune`.
///
/// Order matters: the folder is refused if it is not ours to fill or clear, then locked (when
/// it exists), then every flag, the data, the adapter and `--init-from` are checked, and only
/// then is an old run's content removed, under the lock. A run that fails to start leaves the
/// folder as it found it.
pub fn train(gpu: &Gpu, mut args: TrainArgs, tune: TuneMode, stop: &AtomicBool) -> Result<Outcome> {
    // Training defaults to the paper's long tail.
    args.data.subset.imbalance.get_or_insert(100.0);
    let run_dir = match &args.out {
        Some(dir) => dir.clone(),
        None => default_run_dir(&args),
    };
    let overwrite = args.overwrite;
    let init_from = args.init_from.clone();
    let check = |state: &FolderState| {
        check_replaceable(&run_dir, state, overwrite)?;
        check_init_from_kept(&run_dir, state, init_from.as_deref())
    };
    check(&inspect_folder(&run_dir)?)?;
    // An existing folder is locked before the (slow) start, so a second process is refused at
    // once; a new folder is created (and locked) only once the run is known to start.
    let existed = run_dir.is_dir();
    let early_lock = existed.then(|| RunLock::acquire(&run_dir)).transpose()?;
    let mut trainer = Trainer::new(gpu, RunConfig::new(args), run_dir.clone())?;
    let start = trainer.init_from()?;
    print_warnings(&trainer);
    // The old run's files are about to go, so the space they hold counts as free.
    let replaced: u64 = match inspect_folder(&run_dir)? {
        FolderState::Run { ours, .. } => ours
            .iter()
            .filter_map(|f| fs::metadata(run_dir.join(f)).ok())
            .map(|m| m.len())
            .sum(),
        _ => 0,
    };
    check_free_space(
        &run_dir,
        (3 * trainer.checkpoint_bytes()).saturating_sub(replaced),
    )?;
    fs::create_dir_all(&run_dir).map_err(|e| TrainError::io("create", &run_dir, e))?;
    let lock = match early_lock {
        Some(lock) => lock,
        None => RunLock::acquire(&run_dir)?,
    };
    let prepared = (|| {
        // Looked at again under the lock: the folder may have changed during the start.
        let state = inspect_folder(&run_dir)?;
        check(&state)?;
        if let FolderState::Run { ours, .. } = &state {
            clear_run(&run_dir, ours)?;
        }
        if trainer.args().data.subset.subset_indices.is_some() {
            // The list as loaded, so the run never depends on the file outside its folder.
            trainer.config.subset_indices =
                Some(SubsetCopy::write(&run_dir, &trainer.data.subset.indices)?);
        }
        trainer.config.started_on = Some(StartedOn::new(
            crate::gpu::adapter::label(gpu.info()),
            &trainer.args().data.subset.data_dir(),
            &run_dir,
        ));
        write_atomic(&run_dir.join(CONFIG_FILE), &trainer.config.to_json())
    })();
    if let Err(e) = prepared {
        drop(lock);
        if !existed {
            // Only ever removes the folder this call created, and only while it is empty.
            let _ = fs::remove_dir(&run_dir);
        }
        return Err(e);
    }
    let outcome =
        tune_convolutions(gpu, trainer.args(), tune).and_then(|()| trainer.run(start, stop));
    drop(lock);
    outcome
}

/// Refuses to start a run in `dir` unless it is empty, or (with `--overwrite`) a purenoise run
/// folder holding nothing but purenoise's files.
fn check_replaceable(dir: &Path, state: &FolderState, overwrite: bool) -> Result<()> {
    let shown = dir.display();
    match state {
        FolderState::Empty => Ok(()),
        FolderState::Run { .. } if !overwrite => Err(TrainError::arg(
            "--out",
            format!(
                "{shown} already holds a run; pass --resume {shown} to continue it, \
                 --overwrite to replace it, or another --out"
            ),
        )),
        FolderState::Run { foreign, .. } if foreign.is_empty() => Ok(()),
        FolderState::Run { foreign, .. } => {
            let entries = if foreign.len() == 1 {
                "an entry"
            } else {
                "entries"
            };
            Err(TrainError::arg(
                "--overwrite",
                format!(
                    "refusing to clear the run folder {shown}: it also holds {entries} that \
                     purenoise did not write ({}), and --overwrite only ever removes a run's own \
                     files. Nothing was deleted. Move them out of the folder and try again, or \
                     choose another --out",
                    list_names(foreign)
                ),
            ))
        }
        FolderState::NotARun { why } if overwrite => Err(TrainError::arg(
            "--overwrite",
            format!(
                "refusing to clear {shown}: it is not a purenoise run folder ({why}), and \
                 --overwrite only ever replaces a run. Nothing was deleted. Choose an empty or \
                 new --out"
            ),
        )),
        FolderState::NotARun { why } => Err(TrainError::arg(
            "--out",
            format!(
                "{shown} is not empty and is not a purenoise run folder ({why}); choose an \
                 empty or new --out"
            ),
        )),
    }
}

/// Refuses `--overwrite` of a run folder when `--init-from` is one of the files it would clear:
/// the new run has loaded it, but would hold it nowhere else until its first checkpoint.
fn check_init_from_kept(dir: &Path, state: &FolderState, init_from: Option<&Path>) -> Result<()> {
    let (FolderState::Run { ours, .. }, Some(init)) = (state, init_from) else {
        return Ok(());
    };
    // Resolved, so `./run/../run/best.safetensors` or a link to it count as what they are.
    let (Ok(file), Ok(dir_resolved)) = (fs::canonicalize(init), fs::canonicalize(dir)) else {
        return Ok(());
    };
    let cleared = file.parent() == Some(dir_resolved.as_path())
        && file
            .file_name()
            .is_some_and(|name| ours.iter().any(|o| name == o.as_str()));
    if !cleared {
        return Ok(());
    }
    Err(TrainError::arg(
        "--init-from",
        format!(
            "{} is a file of the run folder {} that --overwrite would delete before the new \
             run saves its first checkpoint. Nothing was deleted. Copy it out of the folder and \
             pass the copy to --init-from, or choose another --out",
            init.display(),
            dir.display()
        ),
    ))
}

/// Removes an old run's files before a new run takes the folder: `ours`, as
/// [`inspect_folder`] listed them, except `config.json` (replaced by the new run's in one
/// rename, so the folder is a run folder at every moment) and the temporary files of writers
/// that may still be alive.
fn clear_run(run_dir: &Path, ours: &[String]) -> Result<()> {
    for name in ours {
        if name == CONFIG_FILE || atomic::temporary_writer(std::ffi::OsStr::new(name)).is_some() {
            continue;
        }
        let path = run_dir.join(name);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(TrainError::io("remove", &path, e))
            }
            _ => {}
        }
    }
    remove_stale_temporaries(run_dir);
    Ok(())
}

fn print_warnings(trainer: &Trainer) {
    for w in trainer.warnings() {
        eprintln!("warning: {w}");
    }
}

/// `--tune`: the model's convolutions at the run's batch size, with a progress line; the
/// choices go to the ops through `gpu` and to the user's tuning cache.
fn tune_convolutions(gpu: &Gpu, args: &TrainArgs, mode: TuneMode) -> Result<()> {
    let kind: ModelKind = args.model.parse()?;
    let problems = tune::problems(kind, args.batch_size, args.precision);
    let cache = Cache::user();
    let mut progress: Option<Progress> = None;
    let tuned = tune::tune(gpu, &problems, mode, &cache, &mut |done, total, _| {
        progress
            .get_or_insert_with(|| {
                eprintln!(
                    "tuning {total} of {} convolution passes of {kind} at batch {} (once per adapter and shape; --tune off skips it)",
                    problems.len(),
                    args.batch_size
                );
                Progress::new("tuning", Some(total as u64), Unit::Items("passes"), 0)
            })
            .set(done as u64);
    });
    let outcome = match tuned {
        Ok(outcome) => {
            if let Some(progress) = progress {
                progress.complete();
            }
            outcome
        }
        // Training then meets the same limit and says what to change, with the step's numbers.
        Err(e @ crate::Error::OutOfMemory { .. }) => {
            if let Some(progress) = progress {
                progress.abandon();
            }
            eprintln!("tuning stopped, the untuned kernels run: {e}");
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
            "tuned {measured} convolution passes in {:.0} s ({cached} from the cache); saved in {place}",
            outcome.seconds
        );
    }
    Ok(())
}

/// Continues an interrupted run from its folder's last (or best) checkpoint, with the settings
/// that checkpoint saved and the changes `request` allows (see [`ResumeRequest`]).
pub fn resume(
    gpu: &Gpu,
    run_dir: &Path,
    request: &ResumeRequest,
    tune: TuneMode,
    stop: &AtomicBool,
) -> Result<Outcome> {
    let no_run = || {
        TrainError::Other(format!(
            "{} holds no run to resume: {CONFIG_FILE} is missing (the run was stopped before \
             it started, or this is not a run folder); start it again with the same flags \
             and --overwrite",
            run_dir.display()
        ))
    };
    // A run still starting has its lock file before its config.json.
    if !run_dir.join(CONFIG_FILE).exists() && !run_dir.join(LOCK_FILE).exists() {
        return Err(no_run());
    }
    let _lock = RunLock::acquire(run_dir)?;
    if !run_dir.join(CONFIG_FILE).exists() {
        return Err(no_run());
    }
    let mut config = RunConfig::read(run_dir)?;
    remove_stale_temporaries(run_dir);
    let Some((ckpt_path, ckpt)) = resume::choose_checkpoint(run_dir, request.from)? else {
        // Stopped after config.json was written but before the first checkpoint: nothing was
        // learned yet, so the kind thing is to start the same run over.
        let changes = request.apply(&mut config, 0, 0)?;
        let trainer = Trainer::new(gpu, config, run_dir.to_path_buf())?;
        let start = trainer.init_from()?;
        check_free_space(run_dir, 3 * trainer.checkpoint_bytes())?;
        trim_metrics(run_dir, 0)?;
        record_changes(&trainer, &changes)?;
        print_warnings(&trainer);
        eprintln!(
            "{} has no checkpoint yet (the run stopped before its first one); starting it from the beginning",
            run_dir.display()
        );
        tune_convolutions(gpu, trainer.args(), tune)?;
        return trainer.run(start, stop);
    };
    let position: Position =
        serde_json::from_value(ckpt.state["position"].clone()).map_err(|e| {
            TrainError::Other(format!(
                "{}: the checkpoint has no valid position: {e}",
                ckpt_path.display()
            ))
        })?;
    resume::verify(&config, &ckpt_path, &ckpt)?;
    let changes = request.apply(&mut config, position.epoch, position.batch)?;
    let trainer = Trainer::new(gpu, config, run_dir.to_path_buf())?;
    state::restore(gpu, &trainer.model, &ckpt_path, ckpt, Momentum::Require)?;
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
    if request.from == ResumeFrom::Best {
        for kept in resume::keep_aside_for_best(run_dir)? {
            eprintln!("{kept}");
        }
    }
    trim_metrics(run_dir, position.epoch)?;
    record_changes(&trainer, &changes)?;
    print_warnings(&trainer);
    eprintln!(
        "resuming {} from {} at epoch {}, batch {}",
        run_dir.display(),
        ckpt_path.display(),
        position.epoch,
        position.batch
    );
    tune_convolutions(gpu, trainer.args(), tune)?;
    trainer.run(position, stop)
}

/// Prints the flags changed on resume and saves them in config.json's history.
fn record_changes(trainer: &Trainer, changes: &[String]) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    write_atomic(
        &trainer.run_dir.join(CONFIG_FILE),
        &trainer.config.to_json(),
    )?;
    for c in changes {
        eprintln!("{c}");
    }
    Ok(())
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
///
/// With `--init-from`, the step starts from that checkpoint's parameters, BN statistics and
/// (unless `--weights-only`) momentum.
///
/// An existing `output` is replaced when it is an earlier dump; any other file (a checkpoint,
/// say) only with `--overwrite`.
pub fn dump_step(gpu: &Gpu, mut args: TrainArgs, epoch: usize, output: &Path) -> Result<()> {
    check_dump_output(output, args.overwrite)?;
    args.data.subset.imbalance.get_or_insert(100.0);
    args.dropout = 0.0;
    // --init-from loads the checkpoint for the step of `epoch` (a run of --epochs would refuse
    // to start past its end; dump-step has no end).
    if args.init_from.is_some() {
        args.start_epoch = Some(epoch);
        args.epochs = args.epochs.max(epoch + 1);
    }
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let trainer = Trainer::new(gpu, RunConfig::new(args), dir)?;
    trainer.init_from()?;
    let global_step = epoch * trainer.data.loader.batches_per_epoch();
    let batch = trainer
        .data
        .loader
        .epoch(epoch)
        .next()
        .ok_or_else(|| TrainError::Other("the training subset is empty".into()))?;
    let mut tensors = state::snapshot(gpu, &trainer.model, false)?;
    let n = batch.len();
    let params = &trainer.model.params;
    let lr = trainer.schedule.lr(epoch);
    let sgd = Sgd {
        lr,
        momentum: trainer.args().momentum,
        weight_decay: trainer.args().weight_decay,
    };
    let step_batch = StepBatch {
        images: &batch.images,
        labels: &batch.labels,
        noise_mask: &batch.noise_mask,
    };
    // A fresh scaler at --initial-loss-scale: the step a run with it takes first.
    let mut scaler = trainer.args().dynamic_loss_scale().then(|| {
        LossScaler::new(
            trainer.args().initial_loss_scale,
            trainer.args().loss_scale_growth_interval,
        )
    });
    let scale = scaler.map_or(1.0, |s| s.scale);
    // What the step computed, read between backward and the update.
    let inspect = |out: &StepOutputs| -> crate::Result<()> {
        let as_f32 = |v: &[u32]| v.iter().map(|&u| u as f32).collect::<Vec<_>>();
        for (name, t) in [
            ("input", &out.input),
            ("logits", &out.logits),
            ("loss", &out.loss),
        ] {
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
        for id in params.ids() {
            let g = params.grad(id);
            tensors.push(NamedTensor {
                name: format!("grad.{}", params.name(id)),
                shape: g.shape().to_vec(),
                // Unscaled, so dumps with and without loss scaling compare (exactly: the scale
                // is a power of two).
                data: gpu.read(&g)?.iter().map(|v| v / scale).collect(),
            });
        }
        Ok(())
    };
    let result = trainer.step().run(
        &step_batch,
        global_step,
        &sgd,
        &[],
        scaler.as_mut(),
        inspect,
    )?;
    match result {
        StepResult::NotFinite { loss } => eprintln!(
            "the loss is {loss}: the SGD update was not applied, so the next.* parameters equal \
             the ones before the step"
        ),
        StepResult::Overflow { scale, .. } => eprintln!(
            "the gradients overflowed at loss scale {}: the SGD update was skipped, so the \
             next.* parameters equal the ones before the step (try a lower \
             --initial-loss-scale)",
            loss_scale::show(scale)
        ),
        StepResult::Applied { .. } => {}
    }
    for mut t in state::snapshot(gpu, &trainer.model, false)? {
        t.name = format!("next.{}", t.name);
        tensors.push(t);
    }
    let mut dump = json!({ "epoch": epoch, "global_step": global_step, "lr": lr });
    if scaler.is_some() {
        dump["loss_scale"] = json!(scale);
    }
    let state = json!({ "dump_step": dump, "config": trainer.args() });
    checkpoint::save(output, &Checkpoint { tensors, state })?;
    eprintln!(
        "wrote one step of {} (batch of {n}, lr {lr}) to {}",
        trainer.args().model,
        output.display()
    );
    Ok(())
}

/// Refuses to replace anything at `output` but an earlier dump (whose state holds `dump_step`),
/// unless `overwrite`; a folder is never replaced.
fn check_dump_output(output: &Path, overwrite: bool) -> Result<()> {
    let meta = match fs::symlink_metadata(output) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(TrainError::io("examine", output, e)),
    };
    if meta.is_dir() {
        return Err(TrainError::arg(
            "--out",
            format!("{} is a folder; name a file", output.display()),
        ));
    }
    let what = match checkpoint::load(output) {
        Ok(c) if c.state.get("dump_step").is_some() => return Ok(()),
        Ok(c) if c.state.get("position").is_some() => "a training checkpoint",
        Ok(_) => "a safetensors file that is not a dump",
        Err(_) => "not a dump of dump-step",
    };
    if overwrite {
        return Ok(());
    }
    Err(TrainError::arg(
        "--out",
        format!(
            "{} already exists and is {what}; choose another --out, or pass --overwrite to \
             replace it",
            output.display()
        ),
    ))
}

/// The checkpoint `eval RUN_DIR_OR_CHECKPOINT` evaluates: a run folder's best checkpoint, or
/// the file named. A folder without one is refused, saying what it holds instead.
pub fn eval_target(path: &Path) -> Result<PathBuf> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let best = path.join(BEST);
    if best.exists() {
        return Ok(best);
    }
    let shown = path.display();
    let why = if path.join(LAST).exists() {
        format!(
            "has no {BEST} yet (it is written at the first evaluated epoch); evaluate its last \
             checkpoint instead: purenoise eval {}",
            path.join(LAST).display()
        )
    } else if path.join(CONFIG_FILE).exists() {
        format!("is a run folder without a checkpoint yet (no {BEST}, no {LAST})")
    } else {
        format!(
            "is a folder without {BEST} or {CONFIG_FILE}, so not a run folder; name a run \
             folder or a checkpoint file"
        )
    };
    Err(TrainError::Other(format!("{shown} {why}")))
}

/// What `eval` measured, of which checkpoint, and where it wrote it.
pub struct Evaluation {
    pub report: EvalReport,
    pub checkpoint: PathBuf,
    /// Epochs the checkpoint had completed, and batches into the next (when it records them).
    pub epochs_done: Option<u64>,
    pub batch: Option<u64>,
    pub files: Vec<PathBuf>,
}

impl Evaluation {
    /// One line naming the checkpoint and its epoch.
    pub fn heading(&self) -> String {
        let when = match (self.epochs_done, self.batch) {
            (Some(e), Some(b)) if b > 0 => {
                format!("saved at batch {b} of epoch {e} (0-based), after {e} complete epochs")
            }
            (Some(e), _) => format!("saved after {e} complete epochs"),
            _ => "its epoch is not recorded".into(),
        };
        format!("checkpoint {} ({when})", self.checkpoint.display())
    }
}

/// `purenoise eval`: the checkpoint's model (`model` names it for a file that records none, in
/// place of the one told from its tensors) on the test split (or the first `limit` images),
/// with the training subset's class counts for the many/medium/few groups. Writes
/// `eval-<checkpoint name>.json` (the report, naming the checkpoint and its epoch) and
/// `eval-<checkpoint name>-per_class.csv` into `out` (default: the checkpoint's folder), so a
/// run's own results are never replaced. `precision` stores the activations (the checkpoint's
/// weights are f32 whatever precision trained them).
pub fn eval_checkpoint(
    gpu: &Gpu,
    path: &Path,
    model: Option<&str>,
    data_dir: Option<PathBuf>,
    limit: Option<usize>,
    out: Option<PathBuf>,
    precision: Precision,
) -> Result<Evaluation> {
    let imported = import::load(path)?;
    for note in &imported.notes {
        eprintln!("{}: {note}", path.display());
    }
    let ckpt = imported.checkpoint;
    let mut args = if imported.ours {
        let args = resume::saved_args(path, &ckpt)?;
        if let Some(m) = model.filter(|m| *m != args.model) {
            return Err(TrainError::arg(
                "--model",
                format!(
                    "{} is a purenoise checkpoint of {}, which it records; --model {m} is for \
                     files that record no model (PyTorch state dicts); leave it out",
                    path.display(),
                    args.model
                ),
            ));
        }
        args
    } else {
        foreign_eval_args(path, &ckpt, model)?
    };
    if data_dir.is_some() {
        args.data.subset.data_dir = data_dir;
    }
    args.no_download = true;
    args.precision = precision;
    // Before the trainer checks the flags, so a limit of 0 is refused by name.
    args.eval_limit = limit;
    let mut config = RunConfig::new(args);
    config.subset_indices = serde_json::from_value(ckpt.state["subset_indices"].clone()).ok();
    let epochs_done = ckpt.state["position"]["epoch"].as_u64();
    let batch = ckpt.state["position"]["batch"].as_u64();
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let out = out.unwrap_or_else(|| folder.clone());
    let name = path
        .file_stem()
        .map_or("checkpoint".into(), |s| s.to_string_lossy().into_owned());
    let [json_file, csv_file] = [
        out.join(format!("eval-{name}.json")),
        out.join(format!("eval-{name}-per_class.csv")),
    ];
    check_eval_files_replaceable(&json_file, &csv_file, path)?;
    let trainer = Trainer::new(gpu, config, folder)?;
    state::restore(gpu, &trainer.model, path, ckpt, Momentum::Skip).map_err(|e| match model {
        Some(m) if !imported.ours => TrainError::arg(
            "--model",
            format!("the tensors of {} do not fit {m}: {e}", path.display()),
        ),
        _ => e,
    })?;
    let what = format!("eval {}", path.display());
    let report = trainer.evaluate(trainer.eval_progress(what))?;
    fs::create_dir_all(&out).map_err(|e| TrainError::io("create", &out, e))?;
    let mut json = serde_json::to_value(&report).expect("a report serializes");
    json["checkpoint"] = json!({
        "path": path.display().to_string(),
        "epochs_done": epochs_done,
        "batch": batch,
    });
    let json_text = serde_json::to_string_pretty(&json).expect("JSON prints") + "\n";
    write_atomic(&json_file, json_text.as_bytes())?;
    write_atomic(&csv_file, report.per_class_csv().as_bytes())?;
    Ok(Evaluation {
        report,
        checkpoint: path.to_path_buf(),
        epochs_done,
        batch,
        files: vec![json_file, csv_file],
    })
}

/// Refuses to replace `eval` results unless they are an earlier evaluation of the same
/// checkpoint: results of another checkpoint with the same file name (another run's
/// `best.safetensors` evaluated into one --out), or files purenoise did not write, are kept.
fn check_eval_files_replaceable(json: &Path, csv: &Path, checkpoint: &Path) -> Result<()> {
    // The report records the path as displayed (lossy where it is not UTF-8).
    let same_file = |recorded: &str| {
        recorded == checkpoint.display().to_string()
            || matches!(
                (fs::canonicalize(recorded), fs::canonicalize(checkpoint)),
                (Ok(a), Ok(b)) if a == b
            )
    };
    let refuse = |why: String| {
        Err(TrainError::arg(
            "--out",
            format!(
                "{why}; it was left as it is. Pass another --out, or move the file away to \
                 replace it"
            ),
        ))
    };
    if fs::symlink_metadata(json).is_err() {
        if fs::symlink_metadata(csv).is_ok() {
            return refuse(format!(
                "{} is there without the {} it goes with, so it is not purenoise's to replace",
                csv.display(),
                json.display()
            ));
        }
        return Ok(());
    }
    let recorded = crate::input::read_text(json, crate::input::MAX_METRICS_BYTES, "an eval report")
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| v["checkpoint"]["path"].as_str().map(str::to_string));
    match recorded {
        Some(p) if same_file(&p) => Ok(()),
        Some(p) => refuse(format!(
            "{} holds the evaluation of another checkpoint, {p}",
            json.display()
        )),
        None => refuse(format!(
            "{} is not an evaluation purenoise wrote",
            json.display()
        )),
    }
}

/// Settings to evaluate a file that never saw purenoise (a PyTorch state dict): the model told
/// from its tensors (or `given` by --model), CIFAR-10 or CIFAR-100 by its class count, and the
/// whole training file as the class counts behind the many/medium/few-shot groups.
fn foreign_eval_args(path: &Path, ckpt: &Checkpoint, given: Option<&str>) -> Result<TrainArgs> {
    let shown = path.display();
    let mut model = import::infer_model(&ckpt.tensors).map_err(|why| {
        let what = match given {
            Some(m) => format!("its class count and batch norm (--model {m} gives only the net)"),
            None => "the model it holds".into(),
        };
        TrainError::Other(format!(
            "{shown} is not a purenoise checkpoint, and {what} cannot be told: {why}"
        ))
    })?;
    if let Some(m) = given {
        model.kind = m.parse::<ModelKind>()?;
    }
    let dataset = match model.classes {
        10 => "cifar10",
        100 => "cifar100",
        n => {
            return Err(TrainError::Other(format!(
                "{shown}: its classifier has {n} classes, but eval tests on CIFAR-10 (10 \
                 classes) or CIFAR-100 (100)"
            )))
        }
    };
    let bn = match model.bn {
        BnMode::AuxBn => "auxbn",
        _ => "standard",
    };
    #[derive(clap::Parser)]
    struct Defaults {
        #[command(flatten)]
        args: TrainArgs,
    }
    let kind = model.kind.to_string();
    let flags = [
        "eval",
        "--model",
        &kind,
        "--dataset",
        dataset,
        "--bn",
        bn,
        "--imbalance",
        "1",
    ];
    eprintln!(
        "{shown} records no settings: evaluating it as {kind} ({bn} batch norm) on {dataset}'s \
         test split, with the whole training file's class counts"
    );
    Ok(<Defaults as clap::Parser>::try_parse_from(flags)
        .map_err(|e| TrainError::Other(format!("default settings for {shown}: {e}")))?
        .args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_of_a_folder_means_its_best_checkpoint_or_says_what_it_lacks() {
        let dir =
            std::env::temp_dir().join(format!("purenoise-eval-target-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("some.safetensors");
        assert_eq!(eval_target(&file).unwrap(), file);
        let refused = |why: &str| {
            let e = eval_target(&dir).unwrap_err().to_string();
            assert!(
                e.starts_with(&dir.display().to_string()) && e.contains(why),
                "{e}"
            );
        };
        refused("not a run folder; name a run folder or a checkpoint file");
        fs::write(dir.join(CONFIG_FILE), "{}").unwrap();
        refused("is a run folder without a checkpoint yet");
        fs::write(dir.join(LAST), "").unwrap();
        refused(&format!(
            "has no {BEST} yet (it is written at the first evaluated epoch); evaluate its last \
             checkpoint instead: purenoise eval {}",
            dir.join(LAST).display()
        ));
        fs::write(dir.join(BEST), "").unwrap();
        assert_eq!(eval_target(&dir).unwrap(), dir.join(BEST));
        fs::remove_dir_all(&dir).unwrap();
    }
}
