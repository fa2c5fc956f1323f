//! `purenoise table DIR…`: run folders grouped by their settings (all but the seed), with the
//! mean and sample standard deviation of final and best top-1 and of many/medium/few-shot
//! accuracy per group, beside the published numbers where a group repeats a published setting.
//!
//! Grouping: every training setting groups runs, except the seed (the replicate axis) and the
//! bookkeeping ones that say where files go or how the host works, not what is trained or
//! measured: [`BOOKKEEPING`]. `--eval-limit` and `--eval-every` do group (they change what is
//! measured: the test images, and the epochs best top-1 is taken over), and so does
//! `--nan-policy` (skipped steps change the result). A `--subset-indices` run is grouped by the
//! SHA-256 of its own copy of the list, not by the path it was read from.
//!
//! A run is finished when its `metrics.jsonl` covers all its epochs; only finished runs enter the
//! statistics. The rest are listed per group with their epochs done (and `running` while a
//! process holds the folder's lock), never averaged in.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, TryLockError};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::input;
use crate::train::files::{CONFIG_FILE, LOCK_FILE, METRICS_FILE};
use crate::train::metrics::{csv_field, EvalReport};
use crate::train::run_config::RunConfig;

/// Settings (by flag name) that never separate groups: the seed, and where files go or how the
/// host works.
pub const BOOKKEEPING: &[&str] = &[
    "seed",
    "out",
    "overwrite",
    "preset",
    "no-download",
    "data-dir",
    "data-workers",
    "prefetch",
];

/// Settings named in the header line when every group shares them.
const HEADLINE: &[&str] = &[
    "model",
    "dataset",
    "imbalance",
    "method",
    "bn",
    "epochs",
    "eval-limit",
];

#[derive(clap::Args, Clone, Debug)]
pub struct TableArgs {
    /// Run folders, or folders whose immediate subfolders are run folders (a sweep's root).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Comma-separated values instead of a markdown table.
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
    /// One JSON object instead of a markdown table.
    #[arg(long)]
    pub json: bool,
}

/// A number published for a setting: the paper's or the public reproduction's top-1 (%).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Published {
    pub source: &'static str,
    pub model: &'static str,
    pub dataset: &'static str,
    pub imbalance: f64,
    pub method: &'static str,
    /// `None`: any batch-norm mode (without noise images every mode normalizes alike).
    pub bn: Option<&'static str>,
    pub epochs: usize,
    pub top1: f64,
}

const PAPER: &str = "paper";
const PAPER_BN: &str = "paper, BN ablation";
const REPRO: &str = "reproduction";

const fn p(
    source: &'static str,
    model: &'static str,
    dataset: &'static str,
    imbalance: f64,
    method: &'static str,
    bn: Option<&'static str>,
    top1: f64,
) -> Published {
    Published {
        source,
        model,
        dataset,
        imbalance,
        method,
        bn,
        epochs: 200,
        top1,
    }
}

/// Top-1 (%) from Zada, Benou & Irani, "Pure Noise to the Rescue of Insufficient Data" (ICML
/// 2022) — main table (WRN-28-10), BN ablation (WRN-28-10, CIFAR-10-LT 100, OPeN) and the
/// ResNet-32 row — and from the public reproduction of its code, as quoted in issue 15. All
/// trained 200 epochs.
pub const PUBLISHED: &[Published] = &[
    p(PAPER, "wrn-28-10", "cifar10", 100.0, "erm", None, 79.6),
    p(REPRO, "wrn-28-10", "cifar10", 100.0, "erm", None, 81.18),
    p(PAPER, "wrn-28-10", "cifar10", 100.0, "rs", None, 75.1),
    p(REPRO, "wrn-28-10", "cifar10", 100.0, "rs", None, 74.82),
    p(PAPER, "wrn-28-10", "cifar10", 100.0, "drs", None, 83.0),
    p(REPRO, "wrn-28-10", "cifar10", 100.0, "drs", None, 83.22),
    p(
        PAPER,
        "wrn-28-10",
        "cifar10",
        100.0,
        "open",
        Some("darbn"),
        84.6,
    ),
    p(
        REPRO,
        "wrn-28-10",
        "cifar10",
        100.0,
        "open",
        Some("darbn"),
        85.04,
    ),
    p(
        PAPER,
        "wrn-28-10",
        "cifar10",
        50.0,
        "open",
        Some("darbn"),
        87.9,
    ),
    p(
        REPRO,
        "wrn-28-10",
        "cifar10",
        50.0,
        "open",
        Some("darbn"),
        87.8,
    ),
    p(PAPER, "wrn-28-10", "cifar100", 100.0, "erm", None, 47.0),
    p(REPRO, "wrn-28-10", "cifar100", 100.0, "erm", None, 47.1),
    p(
        PAPER,
        "wrn-28-10",
        "cifar100",
        100.0,
        "open",
        Some("darbn"),
        51.5,
    ),
    p(
        REPRO,
        "wrn-28-10",
        "cifar100",
        100.0,
        "open",
        Some("darbn"),
        52.1,
    ),
    p(
        PAPER,
        "wrn-28-10",
        "cifar100",
        50.0,
        "open",
        Some("darbn"),
        56.3,
    ),
    p(
        REPRO,
        "wrn-28-10",
        "cifar100",
        50.0,
        "open",
        Some("darbn"),
        56.5,
    ),
    p(
        PAPER_BN,
        "wrn-28-10",
        "cifar10",
        100.0,
        "open",
        Some("standard"),
        81.45,
    ),
    p(
        PAPER_BN,
        "wrn-28-10",
        "cifar10",
        100.0,
        "open",
        Some("auxbn"),
        83.38,
    ),
    p(
        PAPER_BN,
        "wrn-28-10",
        "cifar10",
        100.0,
        "open",
        Some("darbn"),
        84.64,
    ),
    p(PAPER, "resnet-32", "cifar10", 100.0, "erm", None, 71.70),
    p(PAPER, "resnet-32", "cifar10", 100.0, "drs", None, 75.78),
    p(
        PAPER,
        "resnet-32",
        "cifar10",
        100.0,
        "open",
        Some("darbn"),
        77.52,
    ),
];

/// What one run folder holds, as the table needs it.
#[derive(Clone, Debug)]
pub struct RunSummary {
    pub dir: PathBuf,
    /// Flag name → value shown, for every setting that groups runs.
    pub settings: BTreeMap<String, String>,
    pub seed: u64,
    pub epochs: usize,
    /// The epoch after the last one recorded (a run continued with `--init-from` counts the
    /// epochs before its start as done).
    pub epochs_done: usize,
    /// Top-1 (fraction) of `metrics.json`, else of the last evaluated epoch.
    pub final_top1: Option<f64>,
    /// The highest evaluated top-1 (fraction) of `metrics.jsonl`.
    pub best_top1: Option<f64>,
    /// Many/medium/few-shot accuracy (fractions) from `metrics.json`.
    pub shots: Option<[Option<f64>; 3]>,
    /// A process holds the folder's lock.
    pub running: bool,
}

impl RunSummary {
    pub fn finished(&self) -> bool {
        self.epochs_done >= self.epochs
    }
}

/// A flag's name from a field of `TrainArgs` (`sampler` is `--method`).
fn flag_name(field: &str) -> String {
    match field {
        "sampler" => "method".into(),
        f => f.replace('_', "-"),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(show).collect::<Vec<_>>().join(","),
        // `--imbalance 100` is saved as 100.0; shown as it was typed.
        Value::Number(n) if n.is_f64() && n.as_f64().is_some_and(|f| f.fract() == 0.0) => {
            format!("{}", n.as_f64().unwrap_or_default())
        }
        v => v.to_string(),
    }
}

/// Every leaf of the serialized flags under its flag name (nested groups of flags flattened).
fn flatten(value: &Value, prefix: &str, out: &mut BTreeMap<String, String>) {
    if let Value::Object(map) = value {
        for (k, v) in map {
            if v.is_object() {
                flatten(v, &format!("{prefix}{k}."), out);
            } else {
                let name = flag_name(k);
                // Flag names are unique today; a future clash keeps both under full paths.
                let name = if out.contains_key(&name) {
                    format!("{prefix}{name}")
                } else {
                    name
                };
                out.insert(name, show(v));
            }
        }
    }
}

/// The settings that group `config`'s run: every flag but [`BOOKKEEPING`]. An `--init-from`
/// checkpoint inside a run folder stands for that run's settings (its seed left out), so runs
/// started from the checkpoints of different seeds of one setting group together.
pub fn group_settings(config: &RunConfig) -> BTreeMap<String, String> {
    settings_within(config, 0)
}

/// `--init-from` chains are followed this deep (a chain can loop through `--overwrite`).
const INIT_FROM_DEPTH: usize = 4;

fn settings_within(config: &RunConfig, depth: usize) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    // Through text, so f32 flags read as written (0.1, not to_value's 0.10000000149011612).
    let text = serde_json::to_string(&config.args).expect("flags serialize");
    let value: Value = serde_json::from_str(&text).expect("flags parse back");
    flatten(&value, "", &mut all);
    all.retain(|k, _| !BOOKKEEPING.contains(&k.as_str()));
    // Unset means the training default, so runs saved either way group together.
    all.insert(
        "imbalance".into(),
        show(&serde_json::json!(config.args.imbalance())),
    );
    if let Some(copy) = &config.subset_indices {
        all.insert(
            "subset-indices".into(),
            format!("sha256:{}", &copy.sha256[..copy.sha256.len().min(12)]),
        );
    }
    if let Some(path) = &config.args.init_from {
        let described = init_from_source(path, &all, depth);
        all.insert("init-from".into(), described);
    }
    all
}

/// `--init-from PATH` as a grouping value: "<file> of a run with <its settings that differ
/// from this run's>" when PATH lies in a readable run folder, else PATH itself.
fn init_from_source(path: &Path, own: &BTreeMap<String, String>, depth: usize) -> String {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let (Some(file), Ok(source)) = (path.file_name(), RunConfig::read(folder)) else {
        return path.display().to_string();
    };
    if depth >= INIT_FROM_DEPTH {
        return path.display().to_string();
    }
    let theirs = settings_within(&source, depth + 1);
    let differ: Vec<String> = (theirs.iter())
        // This run's own --init-from differs by nature; the source's counts only if it has one.
        .filter(|(k, v)| own.get(*k) != Some(*v) && !(*k == "init-from" && *v == "-"))
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let differ = if differ.is_empty() {
        "the same settings".to_string()
    } else {
        differ.join(", ")
    };
    format!("{} of a run with {differ}", file.to_string_lossy())
}

/// Whether a process holds `dir`'s run lock. A shared lock is tried and let go at once (it
/// works across machines sharing the file system, where a PID would not).
pub fn is_locked(dir: &Path) -> bool {
    let Ok(file) = crate::lockfile::open_lock_file(&dir.join(LOCK_FILE), false) else {
        return false;
    };
    matches!(file.try_lock_shared(), Err(TryLockError::WouldBlock))
}

/// One line of `metrics.jsonl`; other fields are ignored.
#[derive(serde::Deserialize)]
struct Epoch {
    epoch: usize,
    test_top1: Option<f64>,
}

/// Reads a run folder; the error names the file at fault.
pub fn read_run(dir: &Path) -> Result<RunSummary, String> {
    let config = RunConfig::read(dir).map_err(|e| e.to_string())?;
    let jsonl = dir.join(METRICS_FILE);
    let text = match input::read_text(&jsonl, input::MAX_METRICS_BYTES, "a metrics file") {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", jsonl.display())),
    };
    let (mut epochs_done, mut best, mut last_eval) = (0, None::<f64>, None);
    let mut started = false;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record = match serde_json::from_str::<Epoch>(line) {
            Ok(r) => r,
            // A kill mid-append leaves the last line torn; `--resume` trims it.
            Err(_) if i + 1 == lines.len() && !line.ends_with('\n') => break,
            Err(e) => {
                return Err(format!(
                    "{}:{}: not an epoch record ({e})",
                    jsonl.display(),
                    i + 1
                ))
            }
        };
        // A run started with --init-from continues the schedule: its first record is the
        // epoch it started at (`--start-epoch`), not 0.
        let continues = config.args.init_from.is_some() && !started;
        if record.epoch != epochs_done && !continues {
            return Err(format!(
                "{}:{}: epoch {} where epoch {epochs_done} was expected (records must run 0, 1, \
                 2, …, or from the start epoch of an --init-from run)",
                jsonl.display(),
                i + 1,
                record.epoch
            ));
        }
        started = true;
        epochs_done = record.epoch + 1;
        if let Some(t) = record.test_top1 {
            if !(0.0..=1.0).contains(&t) {
                return Err(format!(
                    "{}:{}: test_top1 {t} is not a fraction in [0, 1]",
                    jsonl.display(),
                    i + 1
                ));
            }
            best = Some(best.map_or(t, |b| b.max(t)));
            last_eval = Some(t);
        }
    }
    let json = dir.join("metrics.json");
    let report = match input::read_text(&json, input::MAX_METRICS_BYTES, "an evaluation report") {
        Ok(t) => Some(
            serde_json::from_str::<EvalReport>(&t)
                .map_err(|e| format!("{}: not an evaluation report ({e})", json.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("cannot read {}: {e}", json.display())),
    };
    let epochs = config.args.epochs;
    // A metrics.json written before a resume that added epochs is not this run's end.
    let report = report.filter(|_| epochs_done >= epochs);
    Ok(RunSummary {
        dir: dir.to_path_buf(),
        settings: group_settings(&config),
        seed: config.args.seed,
        epochs,
        epochs_done,
        final_top1: report.as_ref().map(|r| r.top1).or(last_eval),
        best_top1: best,
        shots: report.as_ref().map(|r| [r.many, r.medium, r.few]),
        running: is_locked(dir),
    })
}

/// The run folders `dir` stands for: itself when it holds `config.json`, else its immediate
/// subfolders that do, in name order. A subfolder where a run is starting (its lock but no
/// `config.json` yet) gets a line in `notes`. Err (why) when `dir` is neither.
pub fn run_folders(dir: &Path, notes: &mut Vec<String>) -> Result<Vec<PathBuf>, String> {
    if dir.join(CONFIG_FILE).exists() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let entries = dir
        .read_dir()
        .map_err(|e| format!("cannot read the folder: {e}"))?;
    let mut subdirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    subdirs.sort();
    let (mut runs, before) = (Vec::new(), notes.len());
    for sub in subdirs {
        if sub.join(CONFIG_FILE).exists() {
            runs.push(sub);
        } else if sub.join(LOCK_FILE).exists() {
            notes.push(format!(
                "skipped {}: a run is starting there (no {CONFIG_FILE} yet)",
                sub.display()
            ));
        }
    }
    if runs.is_empty() && notes.len() == before {
        return Err(format!(
            "neither a run folder (no {CONFIG_FILE}) nor a folder of run folders"
        ));
    }
    Ok(runs)
}

/// The run folders `dirs` name: each a run folder (it has `config.json`) or a folder whose
/// immediate subfolders are. Returns the runs and, for every folder left out, why.
pub fn collect(dirs: &[PathBuf]) -> (Vec<RunSummary>, Vec<String>) {
    let (mut runs, mut skipped) = (Vec::new(), Vec::new());
    // A folder named twice (itself and through its root) counts once.
    let mut seen = std::collections::HashSet::new();
    for dir in dirs {
        let mut notes = Vec::new();
        let found = run_folders(dir, &mut notes);
        skipped.append(&mut notes);
        let found = match found {
            Ok(f) => f,
            Err(e) => {
                skipped.push(format!("skipped {}: {e}", dir.display()));
                continue;
            }
        };
        for run in found {
            if !seen.insert(fs::canonicalize(&run).unwrap_or_else(|_| run.clone())) {
                continue;
            }
            match read_run(&run) {
                Ok(r) => runs.push(r),
                Err(e) => skipped.push(format!("skipped {}: {e}", run.display())),
            }
        }
    }
    (runs, skipped)
}

/// Mean and sample standard deviation (n − 1; `None` for one value).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Stat {
    pub n: usize,
    pub mean: Option<f64>,
    pub std: Option<f64>,
}

impl Stat {
    /// Of fractions, shown in percent.
    pub fn of(fractions: impl IntoIterator<Item = f64>) -> Stat {
        Stat::of_values(fractions.into_iter().map(|x| 100.0 * x))
    }

    /// Of values as they are.
    pub fn of_values(values: impl IntoIterator<Item = f64>) -> Stat {
        let v: Vec<f64> = values.into_iter().collect();
        let n = v.len();
        if n == 0 {
            return Stat::default();
        }
        let mean = v.iter().sum::<f64>() / n as f64;
        let std = (n > 1)
            .then(|| (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
        Stat {
            n,
            mean: Some(mean),
            std,
        }
    }

    fn show(&self) -> String {
        match (self.mean, self.std) {
            (None, _) => "—".into(),
            (Some(m), Some(s)) => format!("{m:.2} ± {s:.2}"),
            (Some(m), None) => format!("{m:.2} ± —"),
        }
    }
}

/// A published number beside a group, and the group's mean final top-1 minus it.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub source: &'static str,
    pub top1: f64,
    pub difference: Option<f64>,
}

/// A run of a group that has not finished.
#[derive(Clone, Debug, Serialize)]
pub struct Unfinished {
    pub dir: PathBuf,
    pub seed: u64,
    pub epochs_done: usize,
    pub epochs: usize,
    pub running: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The group's values of the table's varying settings, in [`Table::varying`]'s order.
    pub settings: Vec<String>,
    /// Finished runs (the statistics' n).
    pub n: usize,
    /// Seeds of the finished runs.
    pub seeds: Vec<u64>,
    pub final_top1: Stat,
    pub best_top1: Stat,
    pub many: Stat,
    pub medium: Stat,
    pub few: Stat,
    pub published: Vec<Comparison>,
    pub unfinished: Vec<Unfinished>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Table {
    /// Settings whose value differs between groups (flag names).
    pub varying: Vec<String>,
    /// Headline settings every group shares.
    pub common: Vec<(String, String)>,
    pub rows: Vec<Row>,
}

fn published_for(settings: &BTreeMap<String, String>) -> Vec<&'static Published> {
    let get = |k: &str| settings.get(k).map(String::as_str);
    PUBLISHED
        .iter()
        .filter(|p| {
            get("model") == Some(p.model)
                && get("dataset") == Some(p.dataset)
                && get("imbalance").and_then(|v| v.parse::<f64>().ok()) == Some(p.imbalance)
                && get("method") == Some(p.method)
                && p.bn.is_none_or(|bn| get("bn") == Some(bn))
                && get("epochs").and_then(|v| v.parse::<usize>().ok()) == Some(p.epochs)
        })
        .collect()
}

/// Runs grouped by their settings (see the module doc).
#[derive(Clone, Debug)]
pub struct Grouping {
    /// Settings whose value differs between groups (flag names), the headline ones first.
    pub varying: Vec<String>,
    /// Headline settings every group shares.
    pub common: Vec<(String, String)>,
    /// Each group's values of `varying` and the indices (in the input) of its runs, ordered by
    /// those values, numbers as numbers (imbalance 50 before 100).
    pub groups: Vec<(Vec<String>, Vec<usize>)>,
}

/// Groups runs with equal settings; `settings[i]` are run i's ([`group_settings`]).
pub fn group(settings: &[&BTreeMap<String, String>]) -> Grouping {
    let mut groups: BTreeMap<&BTreeMap<String, String>, Vec<usize>> = BTreeMap::new();
    for (i, s) in settings.iter().enumerate() {
        groups.entry(s).or_default().push(i);
    }
    let keys: Vec<&String> = {
        let mut k: Vec<&String> = groups.keys().flat_map(|s| s.keys()).collect();
        k.sort();
        k.dedup();
        k
    };
    let value = |s: &BTreeMap<String, String>, k: &str| s.get(k).cloned().unwrap_or("-".into());
    let mut varying: Vec<String> = keys
        .iter()
        .filter(|k| {
            let mut values = groups.keys().map(|s| value(s, k));
            let first = values.next();
            values.any(|v| Some(v) != first)
        })
        .map(|k| k.to_string())
        .collect();
    // The headline settings first, in their order, then the rest by name.
    let rank = |k: &String| {
        HEADLINE
            .iter()
            .position(|h| h == k)
            .unwrap_or(HEADLINE.len())
    };
    varying.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    let common = groups
        .keys()
        .next()
        .map(|s| {
            HEADLINE
                .iter()
                .filter(|h| !varying.iter().any(|v| v == *h))
                .map(|h| (h.to_string(), value(s, h)))
                .collect()
        })
        .unwrap_or_default();
    let mut groups: Vec<(Vec<String>, Vec<usize>)> = groups
        .into_iter()
        .map(|(s, members)| (varying.iter().map(|k| value(s, k)).collect(), members))
        .collect();
    let sort_key = |values: &[String]| -> Vec<(u8, f64, String)> {
        (values.iter())
            .map(|v| match v.parse::<f64>() {
                Ok(x) => (0, x, String::new()),
                Err(_) => (1, 0.0, v.clone()),
            })
            .collect()
    };
    groups.sort_by(|a, b| {
        sort_key(&a.0)
            .partial_cmp(&sort_key(&b.0))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    Grouping {
        varying,
        common,
        groups,
    }
}

/// Groups the runs and computes each group's row.
pub fn build(runs: &[RunSummary]) -> Table {
    let settings: Vec<&BTreeMap<String, String>> = runs.iter().map(|r| &r.settings).collect();
    let Grouping {
        varying,
        common,
        groups,
    } = group(&settings);
    let rows: Vec<Row> = groups
        .into_iter()
        .map(|(values, members)| {
            let members: Vec<&RunSummary> = members.iter().map(|&i| &runs[i]).collect();
            let mut done: Vec<&&RunSummary> = members.iter().filter(|r| r.finished()).collect();
            done.sort_by_key(|r| r.seed);
            let final_top1 = Stat::of(done.iter().filter_map(|r| r.final_top1));
            let shot = |i: usize| Stat::of(done.iter().filter_map(|r| r.shots.and_then(|s| s[i])));
            let mut unfinished: Vec<Unfinished> = members
                .iter()
                .filter(|r| !r.finished())
                .map(|r| Unfinished {
                    dir: r.dir.clone(),
                    seed: r.seed,
                    epochs_done: r.epochs_done,
                    epochs: r.epochs,
                    running: r.running,
                })
                .collect();
            unfinished.sort_by_key(|u| u.seed);
            Row {
                settings: values,
                n: done.len(),
                seeds: done.iter().map(|r| r.seed).collect(),
                best_top1: Stat::of(done.iter().filter_map(|r| r.best_top1)),
                many: shot(0),
                medium: shot(1),
                few: shot(2),
                published: published_for(&members[0].settings)
                    .into_iter()
                    .map(|p| Comparison {
                        source: p.source,
                        top1: p.top1,
                        difference: final_top1.mean.map(|m| m - p.top1),
                    })
                    .collect(),
                final_top1,
                unfinished,
            }
        })
        .collect();
    Table {
        varying,
        common,
        rows,
    }
}

fn signed(x: f64) -> String {
    if x < 0.0 {
        format!("−{:.2}", -x)
    } else {
        format!("+{x:.2}")
    }
}

fn published_cell(row: &Row) -> String {
    (row.published.iter())
        .map(|c| match c.difference {
            Some(d) => format!("{} {} ({})", c.source, c.top1, signed(d)),
            None => format!("{} {}", c.source, c.top1),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn unfinished_cell(row: &Row) -> String {
    (row.unfinished.iter())
        .map(|u| {
            let running = if u.running { ", running" } else { "" };
            format!("seed {}: {}/{}{running}", u.seed, u.epochs_done, u.epochs)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl Table {
    fn any_published(&self) -> bool {
        self.rows.iter().any(|r| !r.published.is_empty())
    }

    fn any_unfinished(&self) -> bool {
        self.rows.iter().any(|r| !r.unfinished.is_empty())
    }

    /// A markdown table, with a line naming the headline settings all groups share.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        if !self.common.is_empty() {
            let common: Vec<String> = (self.common.iter())
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(s, "All runs: {}.\n", common.join(", "));
        }
        let mut header: Vec<String> = self.varying.clone();
        header.extend(
            [
                "n",
                "seeds",
                "final top-1 %",
                "best top-1 %",
                "many %",
                "medium %",
                "few %",
            ]
            .map(String::from),
        );
        if self.any_published() {
            header.push("published top-1 % (final − published)".into());
        }
        if self.any_unfinished() {
            header.push("unfinished (epochs done/total)".into());
        }
        let _ = writeln!(s, "| {} |", header.join(" | "));
        let _ = writeln!(s, "|{}", "---|".repeat(header.len()));
        for row in &self.rows {
            let mut cells: Vec<String> = row.settings.clone();
            let seeds: Vec<String> = row.seeds.iter().map(u64::to_string).collect();
            cells.extend([
                row.n.to_string(),
                seeds.join(","),
                row.final_top1.show(),
                row.best_top1.show(),
                row.many.show(),
                row.medium.show(),
                row.few.show(),
            ]);
            if self.any_published() {
                cells.push(published_cell(row));
            }
            if self.any_unfinished() {
                cells.push(unfinished_cell(row));
            }
            let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
            let _ = writeln!(s, "| {} |", cells.join(" | "));
        }
        s
    }

    /// One CSV row per group: the varying settings, then mean and std of each measure.
    pub fn csv(&self) -> String {
        let mut header: Vec<String> = self.varying.clone();
        header.extend(["n", "seeds"].map(String::from));
        for m in ["final_top1", "best_top1", "many", "medium", "few"] {
            header.push(format!("{m}_mean"));
            header.push(format!("{m}_std"));
        }
        header.extend(["published", "unfinished"].map(String::from));
        let mut s = header
            .iter()
            .map(|h| csv_field(h))
            .collect::<Vec<_>>()
            .join(",")
            + "\n";
        let num = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v:.4}"));
        for row in &self.rows {
            let mut cells: Vec<String> = row.settings.clone();
            let seeds: Vec<String> = row.seeds.iter().map(u64::to_string).collect();
            cells.extend([row.n.to_string(), seeds.join(" ")]);
            for st in [row.final_top1, row.best_top1, row.many, row.medium, row.few] {
                cells.push(num(st.mean));
                cells.push(num(st.std));
            }
            cells.push(published_cell(row));
            cells.push(unfinished_cell(row));
            s += &(cells
                .iter()
                .map(|c| csv_field(c))
                .collect::<Vec<_>>()
                .join(","));
            s.push('\n');
        }
        s
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a table serializes") + "\n"
    }
}

/// `purenoise table`: the rendered table, and a line for each folder left out. Err when no run
/// could be read at all.
pub fn run(args: &TableArgs) -> Result<(String, Vec<String>), String> {
    let (runs, skipped) = collect(&args.dirs);
    if runs.is_empty() {
        let shown: Vec<String> = args.dirs.iter().map(|d| d.display().to_string()).collect();
        let mut msg = format!("no readable run folders in {}", shown.join(", "));
        for s in &skipped {
            msg += &format!("\n  {s}");
        }
        return Err(msg);
    }
    let table = build(&runs);
    let text = if args.json {
        table.json()
    } else if args.csv {
        table.csv()
    } else {
        table.markdown()
    };
    Ok((text, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_deviation_and_single_runs() {
        let s = Stat::of([0.80, 0.82, 0.84]);
        assert_eq!(s.n, 3);
        assert!((s.mean.unwrap() - 82.0).abs() < 1e-9);
        // Deviations −2, 0, 2: sum of squares 8 over n − 1 = 2.
        assert!((s.std.unwrap() - 2.0).abs() < 1e-9);
        assert_eq!(s.show(), "82.00 ± 2.00");
        let one = Stat::of([0.5]);
        assert_eq!((one.std, one.show().as_str()), (None, "50.00 ± —"));
        assert_eq!(Stat::of([]).show(), "—");
    }

    #[test]
    fn every_published_setting_is_distinct_per_source() {
        for (i, a) in PUBLISHED.iter().enumerate() {
            for b in &PUBLISHED[i + 1..] {
                let same = (a.source, a.model, a.dataset, a.method, a.bn, a.epochs)
                    == (b.source, b.model, b.dataset, b.method, b.bn, b.epochs)
                    && a.imbalance == b.imbalance;
                assert!(!same, "{a:?} twice");
            }
        }
    }
}
