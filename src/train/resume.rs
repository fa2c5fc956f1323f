//! What `--resume` may change and what it verifies before going on.
//!
//! The checkpoint is the run's record of its settings: `config.json` must agree with the
//! checkpoint's saved configuration (beyond the changes its history records) and name the same
//! run. A small set of flags may change on resume; each change is printed and recorded in
//! `config.json`'s history, and later checkpoints carry it. Any other flag is refused.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, Args};
use serde_json::{json, Value};

use super::args::{NanPolicy, TrainArgs};
use super::checkpoint::{self, Checkpoint};
use super::error::{Result, TrainError};
use super::files::{BEST, CONFIG_FILE, LAST, METRICS_FILE};
use super::run_config::RunConfig;

/// Which of the run's checkpoints `--resume` continues from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ResumeFrom {
    /// The latest checkpoint (`last.safetensors`).
    #[default]
    Last,
    /// The checkpoint of the best test top-1 (`best.safetensors`); the later checkpoint and
    /// metrics are kept aside under new names, not deleted.
    Best,
}

/// The flags (clap ids) that may change on resume.
pub const CHANGEABLE: [&str; 7] = [
    "epochs",
    "lr",
    "milestones",
    "max_steps",
    "eval_every",
    "nan_policy",
    "log_interval",
];

/// What this `--resume` asks for: the checkpoint, and the changeable flags given explicitly.
#[derive(Debug, Clone, Default)]
pub struct ResumeRequest {
    pub from: ResumeFrom,
    pub epochs: Option<usize>,
    pub lr: Option<f32>,
    pub milestones: Option<Vec<usize>>,
    pub eval_every: Option<usize>,
    pub nan_policy: Option<NanPolicy>,
    /// This invocation's step limit (not a setting of the run, so not recorded).
    pub max_steps: Option<usize>,
    /// This invocation's `--log-interval` (not recorded either).
    pub log_interval: Option<u64>,
}

/// `--name` of a `TrainArgs` field (clap id), e.g. `sampler` → `--method`.
pub fn flag_name(id: &str) -> String {
    TrainArgs::augment_args(clap::Command::new("train"))
        .get_arguments()
        .find(|a| a.get_id() == id)
        .and_then(|a| a.get_long())
        .map_or_else(|| id.to_string(), |l| format!("--{l}"))
}

impl ResumeRequest {
    /// The changeable flags the user gave on the command line (`matches` of the train command,
    /// `args` parsed from them); any other training flag given explicitly is refused, naming it.
    pub fn from_matches(args: &TrainArgs, matches: &ArgMatches, from: ResumeFrom) -> Result<Self> {
        let given = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
        let refused: Vec<String> = TrainArgs::augment_args(clap::Command::new("train"))
            .get_arguments()
            .map(|a| a.get_id().as_str())
            .filter(|id| !CHANGEABLE.contains(id) && given(id))
            .map(flag_name)
            .collect();
        if !refused.is_empty() {
            return Err(TrainError::Other(format!(
                "--resume continues a run with the settings it was started with; {} cannot \
                 change on resume. Only {} may (see README, \"Interrupting and resuming\"). To \
                 train with other settings, start a new run (--init-from the checkpoint keeps its \
                 weights)",
                refused.join(", "),
                CHANGEABLE.map(flag_name).join(", ")
            )));
        }
        Ok(ResumeRequest {
            from,
            epochs: given("epochs").then_some(args.epochs),
            lr: given("lr").then_some(args.lr),
            milestones: given("milestones").then(|| args.milestones.clone()),
            eval_every: given("eval_every").then_some(args.eval_every),
            nan_policy: given("nan_policy").then_some(args.nan_policy),
            max_steps: args.max_steps,
            log_interval: args.log_interval,
        })
    }

    /// Applies the changes to `config` at the checkpoint's `(epoch, batch)`, recording each in
    /// its history; returns one line per change for the user. Refuses `--epochs` below the
    /// checkpoint's epoch.
    pub fn apply(&self, config: &mut RunConfig, epoch: usize, batch: usize) -> Result<Vec<String>> {
        if let Some(e) = self.epochs.filter(|&e| e < epoch) {
            return Err(TrainError::arg(
                "--epochs",
                format!(
                    "the checkpoint has already completed {epoch} epochs; --epochs {e} would \
                     end the run before it. Give at least {epoch}"
                ),
            ));
        }
        config.args.max_steps = self.max_steps;
        config.args.log_interval = self.log_interval;
        let unix_time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let a = &mut config.args;
        let mut changes = Vec::new();
        let mut change = |field: &str, old: Value, new: Value| {
            if old != new {
                changes.push((field.to_string(), old, new));
            }
        };
        if let Some(v) = self.epochs {
            change("epochs", plain(&a.epochs), plain(&v));
            a.epochs = v;
        }
        if let Some(v) = self.lr {
            change("lr", plain(&a.lr), plain(&v));
            a.lr = v;
        }
        if let Some(v) = &self.milestones {
            change("milestones", plain(&a.milestones), plain(v));
            a.milestones = v.clone();
        }
        if let Some(v) = self.eval_every {
            change("eval_every", plain(&a.eval_every), plain(&v));
            a.eval_every = v;
        }
        if let Some(v) = self.nan_policy {
            change("nan_policy", plain(&a.nan_policy), plain(&v));
            a.nan_policy = v;
        }
        let mut lines = Vec::new();
        for (field, old, new) in changes {
            let flag = flag_name(&field);
            lines.push(format!(
                "{flag} changes from {old} to {new} at epoch {epoch}, batch {batch} (recorded in {CONFIG_FILE})"
            ));
            config.history.push(json!({
                "field": field,
                "flag": flag,
                "old": old,
                "new": new,
                "at_epoch": epoch,
                "at_batch": batch,
                "unix_time": unix_time,
            }));
        }
        Ok(lines)
    }
}

/// `v` as JSON text reads back: numbers as written (an f32 0.1 is 0.1, not its f64 widening),
/// so values compare equal to those read from config.json.
fn plain<T: serde::Serialize>(v: &T) -> Value {
    serde_json::from_str(&serde_json::to_string(v).expect("serializes")).expect("JSON reads back")
}

/// Leaves of a JSON object by dotted path (arrays are leaves).
fn leaves(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&path, v, out);
            }
        }
        v => out.push((prefix.to_string(), v.clone())),
    }
}

/// The training configuration a checkpoint saved, as `TrainArgs`.
pub fn saved_args(path: &Path, ckpt: &Checkpoint) -> Result<TrainArgs> {
    serde_json::from_value(ckpt.state["config"].clone()).map_err(|e| {
        TrainError::Other(format!(
            "{}: the checkpoint does not record its training configuration: {e}",
            path.display()
        ))
    })
}

/// Refuses a checkpoint of another run, or a `config.json` that disagrees with the checkpoint's
/// saved configuration beyond the changes its history records (from the checkpoint's values,
/// following the history's entries for that field in order, must lead to config.json's).
pub fn verify(config: &RunConfig, path: &Path, ckpt: &Checkpoint) -> Result<()> {
    let saved_id = ckpt.state.get("run_id").and_then(Value::as_str);
    if config.run_id.as_deref() != saved_id {
        let show =
            |id: Option<&str>| id.map_or("none (written before run ids)".into(), |i| i.to_string());
        return Err(TrainError::Other(format!(
            "{} belongs to another run: its run id is {}, but {CONFIG_FILE} in its folder names \
             run {}. A checkpoint copied from another run folder cannot continue this run; \
             resume that run in its own folder, or start a new run with --init-from {0}",
            path.display(),
            show(saved_id),
            show(config.run_id.as_deref()),
        )));
    }
    let saved = plain(&saved_args(path, ckpt)?);
    let current = plain(&config.args);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    leaves("", &saved, &mut a);
    leaves("", &current, &mut b);
    let mut differing = Vec::new();
    for ((field, old), (_, new)) in a.iter().zip(&b) {
        if old == new {
            continue;
        }
        let name = field.rsplit('.').next().unwrap_or(field);
        let recorded =
            config
                .history
                .iter()
                .filter(|h| h["field"] == *name)
                .fold(old.clone(), |v, h| {
                    if h["old"] == v {
                        h["new"].clone()
                    } else {
                        v
                    }
                });
        if recorded != *new {
            differing.push(format!(
                "  {}: {CONFIG_FILE} has {new}, the checkpoint {old}",
                flag_name(name)
            ));
        }
    }
    let saved_copy = ckpt
        .state
        .get("subset_indices")
        .cloned()
        .unwrap_or(Value::Null);
    let current_copy = plain(&config.subset_indices);
    if saved_copy != current_copy {
        differing.push(format!(
            "  the --subset-indices copy: {CONFIG_FILE} records {current_copy}, the checkpoint {saved_copy}"
        ));
    }
    if differing.is_empty() {
        return Ok(());
    }
    Err(TrainError::Other(format!(
        "{} in {} disagrees with the checkpoint {}, the run's own record of its settings:\n{}\n\
         {CONFIG_FILE} was changed after the run started; restore those values. To change a \
         setting on resume, pass its flag with --resume instead ({} may change)",
        CONFIG_FILE,
        path.parent().unwrap_or(Path::new(".")).display(),
        path.display(),
        differing.join("\n"),
        CHANGEABLE.map(flag_name).join(", "),
    )))
}

/// `last.safetensors`, or what became of it when it cannot be resumed from.
fn read_last(path: &Path) -> std::result::Result<Checkpoint, String> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => Err(format!("{LAST} is missing")),
        Err(e) => Err(format!("{LAST} cannot be examined: {e}")),
        Ok(m) if m.file_type().is_symlink() && fs::metadata(path).is_err() => Err(format!(
            "{LAST} is a link to {}, which does not exist",
            fs::read_link(path).map_or("?".into(), |t| t.display().to_string())
        )),
        Ok(_) => checkpoint::load(path).map_err(|e| format!("{LAST} cannot be read: {e}")),
    }
}

/// The checkpoint to continue from, or `None` for a run that stopped before its first
/// checkpoint and learned nothing (`config.json` alone), which starts over.
///
/// With `last` missing, unreadable or a dangling link while the metrics or `best` show
/// progress, refuses — naming the files and the ways on — and changes nothing.
pub fn choose_checkpoint(
    run_dir: &Path,
    from: ResumeFrom,
) -> Result<Option<(PathBuf, Checkpoint)>> {
    if from == ResumeFrom::Best {
        let path = run_dir.join(BEST);
        if fs::symlink_metadata(&path).is_err() {
            return Err(TrainError::Other(format!(
                "{} holds no {BEST} to resume from (it is written when an evaluation improves \
                 the test top-1); resume from {LAST} (leave out --resume-from best)",
                run_dir.display()
            )));
        }
        return Ok(Some((path.clone(), checkpoint::load(&path)?)));
    }
    let path = run_dir.join(LAST);
    let problem = match read_last(&path) {
        Ok(ckpt) => return Ok(Some((path, ckpt))),
        Err(problem) => problem,
    };
    let epochs = metrics_epochs(run_dir);
    let best = run_dir.join(BEST);
    let best_state = fs::symlink_metadata(&best)
        .is_ok()
        .then(|| checkpoint::load(&best));
    let last_absent =
        matches!(fs::symlink_metadata(&path), Err(e) if e.kind() == ErrorKind::NotFound);
    if last_absent && epochs == 0 && best_state.is_none() {
        return Ok(None);
    }
    let mut found = vec![format!("  {CONFIG_FILE}")];
    if epochs > 0 {
        found.push(format!("  {METRICS_FILE}: {epochs} epoch line(s)"));
    }
    let mut ways = Vec::new();
    match &best_state {
        Some(Ok(b)) => {
            let done = b.state["position"]["epoch"].as_u64();
            found.push(format!(
                "  {BEST}{}",
                done.map_or(String::new(), |e| format!(
                    ", saved after {e} complete epochs"
                ))
            ));
            ways.push(format!(
                "continue from the best checkpoint ({LAST} and the later metrics are kept aside \
                 under new names): purenoise train --resume {} --resume-from best",
                run_dir.display()
            ));
        }
        Some(Err(e)) => found.push(format!("  {BEST}, which cannot be read either: {e}")),
        None => {}
    }
    if !last_absent {
        ways.push(format!(
            "restore {} from a copy (a backup, or the target of the link)",
            path.display()
        ));
    }
    ways.push(format!(
        "start the run over, losing its progress: purenoise train --out {} --overwrite with \
         the run's flags (listed in {CONFIG_FILE})",
        run_dir.display()
    ));
    Err(TrainError::Other(format!(
        "cannot resume {}: {problem}, but the run had made progress. The folder holds:\n{}\n\
         Nothing was changed. You can:\n{}",
        run_dir.display(),
        found.join("\n"),
        ways.iter()
            .map(|w| format!("  - {w}"))
            .collect::<Vec<_>>()
            .join("\n")
    )))
}

/// Epoch lines in `metrics.jsonl` (0 when it is missing or holds only a line a kill tore).
fn metrics_epochs(run_dir: &Path) -> usize {
    let metrics = run_dir.join(METRICS_FILE);
    crate::input::read_bounded(&metrics, crate::input::MAX_METRICS_BYTES, "a metrics file").map_or(
        0,
        |b| {
            String::from_utf8_lossy(&b)
                .lines()
                .filter(|l| {
                    serde_json::from_str::<Value>(l).is_ok_and(|v| v.get("epoch").is_some())
                })
                .count()
        },
    )
}

/// A name `stem[-N].ext` in `dir` that nothing holds yet.
fn unused_name(dir: &Path, stem: &str, ext: &str) -> PathBuf {
    (1..)
        .map(|n| match n {
            1 => dir.join(format!("{stem}.{ext}")),
            n => dir.join(format!("{stem}-{n}.{ext}")),
        })
        .find(|p| fs::symlink_metadata(p).is_err())
        .expect("some name is free")
}

/// Before continuing from `best`: moves `last` (whatever it is) aside and copies the metrics,
/// whose later lines the resumed run replaces, under new names; then `best` becomes `last` too
/// (a run resumed at its end trains no epoch that would write one). Returns what it kept, for
/// the user. What can fail is done before `last` moves, and if `best` cannot take its place,
/// `last` moves back: a failure leaves the run resumable as it was.
pub fn keep_aside_for_best(run_dir: &Path) -> Result<Vec<String>> {
    let mut kept = Vec::new();
    let best = run_dir.join(BEST);
    let best_bytes = checkpoint::read_bytes(&best)?;
    let metrics = run_dir.join(METRICS_FILE);
    let mut metrics_copy = None;
    if fs::metadata(&metrics).is_ok_and(|m| m.len() > 0) {
        let to = unused_name(run_dir, "metrics-before-resume-from-best", "jsonl");
        let bytes =
            crate::input::read_bounded(&metrics, crate::input::MAX_METRICS_BYTES, "a metrics file")
                .map_err(|e| TrainError::io("read", &metrics, e))?;
        super::files::write_atomic(&to, &bytes)?;
        kept.push(format!(
            "{METRICS_FILE} as it was is kept as {}",
            to.display()
        ));
        metrics_copy = Some(to);
    }
    let last = run_dir.join(LAST);
    let mut aside = None;
    if fs::symlink_metadata(&last).is_ok() {
        let to = unused_name(run_dir, "last-before-resume-from-best", "safetensors");
        fs::rename(&last, &to).map_err(|e| TrainError::io("move aside", &last, e))?;
        kept.insert(0, format!("{LAST} is kept as {}", to.display()));
        aside = Some(to);
    }
    if let Err(e) = super::files::write_atomic(&last, &best_bytes) {
        // Undone: the names this call chose were free, so what is there now is its own.
        if let Some(to) = &aside {
            let _ = fs::rename(to, &last);
        }
        if let Some(copy) = &metrics_copy {
            let _ = fs::remove_file(copy);
        }
        return Err(e);
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::args::TestCli as Cli;
    use clap::Parser;

    fn request(flags: &[&str]) -> Result<ResumeRequest> {
        let (args, matches) = Cli::matches(flags);
        ResumeRequest::from_matches(&args, &matches, ResumeFrom::Last)
    }

    #[test]
    fn only_the_changeable_flags_pass_and_changes_are_recorded() {
        let r = request(&["--epochs", "9", "--lr", "0.01", "--max-steps", "3"]).unwrap();
        assert_eq!(
            (r.epochs, r.lr, r.max_steps, r.milestones.clone()),
            (Some(9), Some(0.01), Some(3), None)
        );
        let e = request(&["--epochs", "9", "--batch-size", "4", "--method", "erm"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--batch-size, --method cannot change"), "{e}");
        assert!(
            e.contains(
                "--epochs, --lr, --milestones, --max-steps, --eval-every, --nan-policy, \
                 --log-interval"
            ),
            "{e}"
        );

        let mut config = RunConfig::new(Cli::parse_from(["train", "--epochs", "3"]).args);
        let lines = r.apply(&mut config, 2, 1).unwrap();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with("--epochs changes from 3 to 9 at epoch 2, batch 1"),
            "{lines:?}"
        );
        assert_eq!(
            (config.args.epochs, config.args.lr, config.args.max_steps),
            (9, 0.01, Some(3))
        );
        assert_eq!(config.history[0]["field"], "epochs");
        assert_eq!(
            (
                config.history[0]["old"].clone(),
                config.history[0]["new"].clone()
            ),
            (json!(3), json!(9))
        );
        assert_eq!(config.history[1]["at_epoch"], 2);
        let e = request(&["--epochs", "1"])
            .unwrap()
            .apply(&mut config, 2, 0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--epochs") && e.contains("completed 2 epochs"),
            "{e}"
        );
    }

    #[test]
    fn config_json_must_agree_with_the_checkpoint_beyond_its_history() {
        let args = Cli::parse_from(["train", "--epochs", "3"]).args;
        let mut config = RunConfig::new(args.clone());
        let ckpt = |args: &TrainArgs, id: &Option<String>| Checkpoint {
            tensors: vec![],
            state: json!({ "config": args, "run_id": id }),
        };
        let path = Path::new("run/last.safetensors");
        verify(&config, path, &ckpt(&args, &config.run_id)).unwrap();
        // Two recorded changes since the checkpoint: 3 → 5 → 8.
        let mut request = ResumeRequest {
            epochs: Some(5),
            ..Default::default()
        };
        request.apply(&mut config, 1, 0).unwrap();
        request.epochs = Some(8);
        request.apply(&mut config, 1, 0).unwrap();
        verify(&config, path, &ckpt(&args, &config.run_id)).unwrap();
        // An edit the history does not record.
        config.args.batch_size = 4;
        let e = verify(&config, path, &ckpt(&args, &config.run_id))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--batch-size: config.json has 4, the checkpoint 128"),
            "{e}"
        );
        assert!(!e.contains("--epochs:"), "{e}");
        // Another run's checkpoint.
        let other = Some("f".repeat(32));
        let e = verify(&config, path, &ckpt(&args, &other))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("belongs to another run")
                && e.contains(&"f".repeat(32))
                && e.contains(config.run_id.as_deref().unwrap()),
            "{e}"
        );
    }

    /// `--resume-from best` that cannot put `best` in `last`'s place (here the temporary file
    /// of that write is blocked by a folder) leaves the run as it was: `last` where it was, no
    /// copies; once it can, `last` and the metrics are kept aside and `best` becomes `last`.
    #[test]
    fn keeping_aside_for_best_is_undone_when_best_cannot_take_last_s_place() {
        let dir = std::env::temp_dir().join(format!("purenoise-aside-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(LAST), b"last").unwrap();
        fs::write(dir.join(BEST), b"best").unwrap();
        fs::write(dir.join(METRICS_FILE), b"{\"epoch\": 1}\n").unwrap();
        let entries = || {
            let mut names: Vec<String> = fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let blocker = crate::atomic::temporary_path(&dir.join(LAST)).unwrap();
        fs::create_dir(&blocker).unwrap();
        let before = entries();
        let err = keep_aside_for_best(&dir).unwrap_err().to_string();
        assert!(err.contains(LAST), "{err}");
        assert_eq!(entries(), before);
        assert_eq!(fs::read(dir.join(LAST)).unwrap(), b"last");

        fs::remove_dir(&blocker).unwrap();
        let kept = keep_aside_for_best(&dir).unwrap();
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert_eq!(fs::read(dir.join(LAST)).unwrap(), b"best");
        assert_eq!(
            fs::read(dir.join("last-before-resume-from-best.safetensors")).unwrap(),
            b"last"
        );
        assert_eq!(
            fs::read(dir.join("metrics-before-resume-from-best.jsonl")).unwrap(),
            b"{\"epoch\": 1}\n"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
