//! `purenoise sweep --root DIR`: every combination of the listed methods, BN modes, seeds,
//! datasets and imbalances (the cells), each an ordinary run folder under DIR named by its
//! values, trained in this process with `run::train`, or continued with `run::resume` when a
//! previous sweep left it unfinished; finished cells are skipped.
//!
//! A worker claims a cell before looking at it and holds the claim until the cell's run returns,
//! so two workers on one root (processes on one machine, or jobs of a scheduler array on
//! machines sharing the file system) never run a cell twice. The claim is a [`RunLock`] on
//! `DIR/.sweep-claims/<cell>/`, not on the run folder itself: `run::train` and `run::resume`
//! take the run folder's lock themselves, and an OS lock held by this process on another open
//! file would refuse them.
//!
//! With `--init-from-cell`, a cell starts from another cell's checkpoint (`--init-from`); the
//! sources are numbered first and a cell whose source is not done waits. `--jobs N` runs cells
//! in N child processes of this program, one `--cell I` each.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};

use super::args::{Preset, TrainArgs};
use super::error::{Result, TrainError};
use super::files::{BEST, CONFIG_FILE, LAST};
use super::lock::RunLock;
use super::plan;
use super::resume::ResumeRequest;
use super::run;
use super::run_config::RunConfig;
use crate::data::cifar::DatasetKind;
use crate::data::sampler::SamplerKind;
use crate::gpu::Gpu;
use crate::models::BnMode;
use crate::report::table::{self, group_settings};
use crate::tune::TuneMode;

/// Where the claims live under the sweep's root.
pub const CLAIMS: &str = ".sweep-claims";

#[derive(clap::Args, Debug, Clone)]
pub struct SweepArgs {
    /// Folder holding one run folder per cell (created when missing).
    #[arg(long)]
    pub root: PathBuf,
    /// Methods, comma-separated (e.g. erm,drs,open).
    #[arg(long = "method", value_enum, value_delimiter = ',')]
    pub methods: Vec<SamplerKind>,
    /// Batch-norm modes, comma-separated (e.g. darbn,standard,auxbn).
    #[arg(long = "bn", value_enum, value_delimiter = ',')]
    pub bns: Vec<BnMode>,
    /// Seeds, comma-separated (e.g. 0,1,2).
    #[arg(long = "seed", value_delimiter = ',')]
    pub seeds: Vec<u64>,
    /// Datasets, comma-separated (cifar10,cifar100).
    #[arg(long = "dataset", value_enum, value_delimiter = ',')]
    pub datasets: Vec<DatasetKind>,
    /// Imbalance ratios, comma-separated (e.g. 100,50).
    #[arg(long = "imbalance", value_delimiter = ',')]
    pub imbalances: Vec<f64>,
    /// The sweep written in a TOML file: these flags without their dashes (`method = ["erm",
    /// "open"]`, `init-from-cell = "..."`, `preset = "small"`) and a `[train]` table of train
    /// flags (`epochs = 30`). A setting may be in the plan or on the command line, not both. The
    /// root keeps a copy, and refuses another plan.
    #[arg(long, value_name = "PLAN.toml")]
    pub plan: Option<PathBuf>,
    /// `train --preset` for every cell (as `-- --preset NAME`).
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// Start each cell from the checkpoint of another cell of this sweep: the cell with the same
    /// values except those given, e.g. `method=erm` (several: `method=erm,bn=standard`), its
    /// `last.safetensors`, or `best.safetensors` with `:best` (`method=erm:best`). The axes are
    /// the listed ones (method, bn, seed, dataset, imbalance). Cells that are their own source
    /// (the erm cells here) start normally; the others run after their source.
    #[arg(long, value_name = "AXIS=VALUE[,..][:best]")]
    pub init_from_cell: Option<String>,
    /// Print the cells, numbered, with their state, and run nothing.
    #[arg(long)]
    pub list: bool,
    /// Run only cell I (numbered as --list shows them, from 0), e.g. a scheduler array's task id.
    #[arg(long, value_name = "I")]
    pub cell: Option<usize>,
    /// Run N cells at once, each in a child process of this program (`sweep ... --cell I`)
    /// with its own GPU device; the claims keep the cells exclusive.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub jobs: usize,
    /// With --jobs: adapters (as --adapter takes them: an index or part of a name),
    /// comma-separated or repeated; the children are spread across them in turn.
    #[arg(long, value_name = "ADAPTER", value_delimiter = ',')]
    pub adapters: Vec<String>,
    /// Convolution kernels, as `train --tune`: tuned once per adapter and shape (the first cell
    /// tunes, the others find the cache).
    #[arg(long, value_enum, env = "PURENOISE_TUNE", default_value_t = TuneMode::Cached)]
    pub tune: TuneMode,
    /// `purenoise train` flags for every cell, after `--` (e.g. `-- --preset quick --epochs 8`);
    /// `--out` is the sweep's to choose.
    #[arg(last = true, value_name = "TRAIN_FLAGS")]
    pub train: Vec<String>,
}

#[derive(Parser)]
#[command(
    name = "purenoise sweep -- (train flags)",
    allow_negative_numbers = true
)]
pub(crate) struct TrainCli {
    #[command(flatten)]
    pub(crate) args: TrainArgs,
}

/// One combination of the axes: its run folder and its flags.
#[derive(Debug, Clone)]
pub struct Cell {
    pub name: String,
    pub dir: PathBuf,
    pub args: TrainArgs,
    /// With `--init-from-cell`: the index of the cell whose checkpoint this one starts from
    /// (never the cell itself).
    pub source: Option<usize>,
}

/// Where a cell stands.
#[derive(Debug, Clone, PartialEq)]
pub enum CellState {
    /// No run in its folder yet.
    Pending,
    /// A process holds its run folder's lock.
    Running,
    /// Not started: its `--init-from-cell` source (named) is not done yet.
    Waiting(String),
    /// Started, not finished: `--resume` continues it.
    Interrupted {
        done: usize,
        epochs: usize,
    },
    Done,
    /// The folder cannot be this cell's run: why.
    Conflict(String),
}

impl std::fmt::Display for CellState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CellState::Pending => write!(f, "pending"),
            CellState::Waiting(source) => write!(f, "waiting for {source}"),
            CellState::Running => write!(f, "running"),
            CellState::Interrupted { done, epochs } => {
                write!(f, "interrupted ({done}/{epochs} epochs)")
            }
            CellState::Done => write!(f, "done"),
            CellState::Conflict(why) => write!(f, "conflict: {why}"),
        }
    }
}

fn value_name<T: ValueEnum>(v: &T) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

/// The cells in their fixed order (seed outermost, so a sweep cut short has whole seeds of every
/// setting); each cell's flags are checked as `train` would check them.
pub fn cells(sweep: &SweepArgs) -> Result<Vec<Cell>> {
    let resolved = plan::resolve(sweep)?;
    resolved_cells(&resolved.sweep).map_err(|e| resolved.blame(e))
}

fn resolved_cells(sweep: &SweepArgs) -> Result<Vec<Cell>> {
    if sweep.jobs == 0 {
        return Err(TrainError::arg("--jobs", "must be at least 1"));
    }
    if sweep.jobs > 1 && sweep.cell.is_some() {
        return Err(TrainError::arg(
            "--jobs",
            "runs several cells at once, --cell exactly one; leave one of them out",
        ));
    }
    if !sweep.adapters.is_empty() && sweep.jobs == 1 {
        return Err(TrainError::arg(
            "--adapters",
            "spreads --jobs over adapters; give --jobs 2 or more, or --adapter for one",
        ));
    }
    let given =
        |flag: &str| (sweep.train.iter()).any(|a| a == flag || a.starts_with(&format!("{flag}=")));
    for flag in ["--out", "--overwrite"] {
        if given(flag) {
            return Err(TrainError::arg(
                flag,
                format!(
                    "cannot be given to a sweep: each cell's run folder is --root/<cell name>; \
                     leave {flag} out"
                ),
            ));
        }
    }
    if sweep.preset.is_some() && given("--preset") {
        return Err(TrainError::arg(
            "--preset",
            "is given both to the sweep (or in its plan) and among the train flags after --; give \
             it once",
        ));
    }
    // (flag, [(value for the flag, part of the cell's name)]), outermost first.
    let axes: Vec<(&str, Vec<(String, String)>)> = vec![
        (
            "--seed",
            (sweep.seeds.iter())
                .map(|s| (s.to_string(), format!("seed{s}")))
                .collect(),
        ),
        (
            "--dataset",
            (sweep.datasets.iter())
                .map(|d| (value_name(d), value_name(d)))
                .collect(),
        ),
        (
            "--imbalance",
            (sweep.imbalances.iter())
                .map(|i| (i.to_string(), format!("ir{i}")))
                .collect(),
        ),
        (
            "--method",
            (sweep.methods.iter())
                .map(|m| (value_name(m), value_name(m)))
                .collect(),
        ),
        (
            "--bn",
            (sweep.bns.iter())
                .map(|b| (value_name(b), value_name(b)))
                .collect(),
        ),
    ];
    let mut combos: Vec<Combo> = vec![Vec::new()];
    for (flag, values) in &axes {
        if values.is_empty() {
            continue;
        }
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((*flag, v));
                    c
                })
            })
            .collect();
    }
    let mut source_epochs = None;
    let sources = match &sweep.init_from_cell {
        Some(spec) => {
            if sweep
                .train
                .iter()
                .any(|a| a == "--init-from" || a.starts_with("--init-from="))
            {
                return Err(TrainError::arg(
                    "--init-from-cell",
                    "cannot be given with --init-from among the train flags: a cell starts from \
                     one checkpoint; leave one of them out",
                ));
            }
            let parsed = parse_init_from_cell(spec, &axes)?;
            source_epochs = parsed.epochs;
            combo_sources(&combos, &parsed.overrides, parsed.best)
        }
        None => vec![None; combos.len()],
    };
    // Each source just before the first cell that needs it, the order otherwise kept, so one
    // pass over the cells runs every source before the cells starting from it.
    let mut order: Vec<usize> = Vec::with_capacity(combos.len());
    for (i, source) in sources.iter().enumerate() {
        for j in [source.map(|(s, _)| s), Some(i)].into_iter().flatten() {
            if !order.contains(&j) {
                order.push(j);
            }
        }
    }
    let mut cells: Vec<Cell> = Vec::with_capacity(combos.len());
    for &at in &order {
        let combo = &combos[at];
        // Named dataset-imbalance-method-bn-seed, the order a table reads in.
        let mut parts: Vec<&str> = combo.iter().skip(1).map(|(_, v)| v.1.as_str()).collect();
        if let Some((flag, v)) = combo.first() {
            if *flag == "--seed" {
                parts.push(&v.1);
            } else {
                parts.insert(0, &v.1);
            }
        }
        let name = if parts.is_empty() {
            "run".to_string()
        } else {
            parts.join("-")
        };
        if cells.iter().any(|c: &Cell| c.name == name) {
            return Err(TrainError::arg(
                "sweep",
                format!("cell {name} is listed twice: give each value of a list once"),
            ));
        }
        let dir = sweep.root.join(&name);
        // OsStrings, so a root that is not UTF-8 reaches --out unchanged.
        let mut argv: Vec<OsString> = vec!["train".into()];
        if let Some(p) = &sweep.preset {
            argv.extend(["--preset".into(), value_name(p).into()]);
        }
        argv.extend(sweep.train.iter().map(OsString::from));
        for (flag, (value, _)) in combo {
            argv.extend([OsString::from(flag), OsString::from(value)]);
        }
        // Placed before this cell by `order`, so among `cells` already.
        let source = sources[at].map(|(s, file)| {
            let index = order
                .iter()
                .position(|&o| o == s)
                .expect("every combo is ordered");
            let path = cells[index].dir.join(file);
            argv.extend([OsString::from("--init-from"), path.into_os_string()]);
            index
        });
        argv.extend([OsString::from("--out"), dir.clone().into_os_string()]);
        let matches = TrainCli::command()
            .try_get_matches_from(&argv)
            .map_err(|e| flags_error(&name, e))?;
        let mut args = TrainCli::from_arg_matches(&matches)
            .map_err(|e| flags_error(&name, e))?
            .args;
        args.apply_preset(&matches);
        if let Some(e) = source_epochs {
            if sources.iter().any(|s| s.is_some_and(|(s, _)| s == at)) {
                args.epochs = e;
            } else if source.is_some() && e >= args.epochs {
                return Err(TrainError::arg(
                    "--init-from-cell",
                    format!(
                        "@{e}: cell {name} would continue from its source's epoch {e}, but its \
                         --epochs {} ends before that; give fewer source epochs or more --epochs",
                        args.epochs
                    ),
                ));
            }
        }
        args.validate()?;
        cells.push(Cell {
            name,
            dir,
            args,
            source,
        });
    }
    Ok(cells)
}

type Combo<'a> = Vec<(&'a str, &'a (String, String))>;

/// `--init-from-cell AXIS=VALUE[,AXIS=VALUE..][@EPOCHS][:best]`.
struct InitFromCell {
    /// (flag, value as the axis lists it): what differs between a cell and its source.
    overrides: Vec<(String, String)>,
    /// `@EPOCHS`: the source cells' `--epochs`.
    epochs: Option<usize>,
    /// `:best`: `best.safetensors`, not `last.safetensors`.
    best: bool,
}

fn parse_init_from_cell(
    spec: &str,
    axes: &[(&str, Vec<(String, String)>)],
) -> Result<InitFromCell> {
    let bad = |why: String| TrainError::arg("--init-from-cell", why);
    let (rest, best) = match spec.rsplit_once(':') {
        Some((rest, "best")) => (rest, true),
        Some((_, other)) => {
            return Err(bad(format!(
                "the suffix :{other} is not known; give :best for the source's best checkpoint, \
                 or nothing for its last"
            )))
        }
        None => (spec, false),
    };
    let (pairs, epochs) = match rest.rsplit_once('@') {
        Some((pairs, e)) => match e.parse::<usize>() {
            Ok(e) if e > 0 => (pairs, Some(e)),
            _ => {
                return Err(bad(format!(
                    "@{e} is not a number of epochs of at least 1; give e.g. method=erm@160"
                )))
            }
        },
        None => (rest, None),
    };
    if epochs.is_none() && !best {
        return Err(bad(format!(
            "{spec} would start each cell from its source's last checkpoint, which ends where \
             this cell ends too (same --epochs): give the epochs the source cells train, e.g. \
             {spec}@160 (they stop there and the others continue from epoch 160), or {spec}:best"
        )));
    }
    let mut overrides: Vec<(String, String)> = Vec::new();
    for pair in pairs.split(',') {
        let Some((axis, value)) = pair.split_once('=') else {
            return Err(bad(format!(
                "{pair:?} is not AXIS=VALUE; give e.g. method=erm"
            )));
        };
        let flag = format!("--{}", axis.trim());
        let Some((_, values)) = axes.iter().find(|(f, _)| *f == flag) else {
            return Err(bad(format!(
                "{axis:?} is not an axis of a sweep; give one of method, bn, seed, dataset, \
                 imbalance"
            )));
        };
        if values.is_empty() {
            return Err(bad(format!(
                "{flag} is not listed by this sweep, so no cell differs in it; list it before \
                 -- (e.g. {flag} {value},...)"
            )));
        }
        let value = value.trim();
        let same = |listed: &str| match flag.as_str() {
            "--seed" => value.parse::<u64>().ok() == listed.parse::<u64>().ok(),
            "--imbalance" => value.parse::<f64>().ok() == listed.parse::<f64>().ok(),
            _ => value.eq_ignore_ascii_case(listed),
        };
        let Some((listed, _)) = values.iter().find(|(v, _)| same(v)) else {
            let all: Vec<&str> = values.iter().map(|(v, _)| v.as_str()).collect();
            return Err(bad(format!(
                "no cell of this sweep has {flag} {value} (it lists {}): the source cells \
                 must be part of the sweep",
                all.join(",")
            )));
        };
        if overrides.iter().any(|(f, _)| *f == flag) {
            return Err(bad(format!("{axis} is given twice; give it once")));
        }
        overrides.push((flag, listed.clone()));
    }
    Ok(InitFromCell {
        overrides,
        epochs,
        best,
    })
}

/// For each combo, the combo it starts from (and the checkpoint's file name), `None` for a combo
/// that is its own source.
fn combo_sources(
    combos: &[Combo],
    overrides: &[(String, String)],
    best: bool,
) -> Vec<Option<(usize, &'static str)>> {
    let file = if best { BEST } else { LAST };
    combos
        .iter()
        .enumerate()
        .map(|(i, combo)| {
            let wanted: Vec<(&str, &str)> = combo
                .iter()
                .map(|(flag, (value, _))| {
                    let o = overrides.iter().find(|(f, _)| f == flag);
                    (*flag, o.map_or(value.as_str(), |(_, v)| v.as_str()))
                })
                .collect();
            let found = combos.iter().position(|c| {
                c.iter()
                    .zip(&wanted)
                    .all(|((_, (value, _)), (_, want))| value == want)
            });
            // Every override names a listed value, so the source is among the combos.
            found.filter(|&s| s != i).map(|s| (s, file))
        })
        .collect()
}

fn flags_error(cell: &str, e: clap::Error) -> TrainError {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    let hint = if e.kind() == clap::error::ErrorKind::ArgumentConflict {
        " (a setting given as a list before --, e.g. --method, cannot also be among the flags \
         after --)"
    } else {
        ""
    };
    TrainError::Other(format!(
        "the train flags of sweep cell {cell}: {}{hint}",
        first.trim_start_matches("error: ")
    ))
}

/// The settings that must agree between a cell and the run found in its folder (a list given
/// by `--subset-indices` is known there by its copy's hash, here by its path: not compared).
fn comparable(config: &RunConfig) -> Vec<(String, String)> {
    let mut s = group_settings(config);
    s.remove("subset-indices");
    s.insert("seed".into(), config.args.seed.to_string());
    s.into_iter().collect()
}

/// Looks at a cell's folder without changing it.
pub fn cell_state(cell: &Cell) -> CellState {
    if !cell.dir.join(CONFIG_FILE).exists() {
        return if table::is_locked(&cell.dir) {
            CellState::Running
        } else {
            CellState::Pending
        };
    }
    let summary = match table::read_run(&cell.dir) {
        Ok(s) => s,
        Err(e) => return CellState::Conflict(e),
    };
    if summary.running {
        return CellState::Running;
    }
    if let Ok(found) = RunConfig::read(&cell.dir) {
        let (want, have) = (
            comparable(&RunConfig::new(cell.args.clone())),
            comparable(&found),
        );
        let differ: Vec<String> = (want.iter())
            .filter(|w| !have.contains(w))
            .map(|(k, v)| {
                let there = have.iter().find(|(h, _)| h == k).map_or("-", |(_, v)| v);
                format!("--{k} {v} here, {there} there")
            })
            .collect();
        if !differ.is_empty() {
            return CellState::Conflict(format!(
                "{} holds a run with other settings ({}); use another --root, or move that \
                 folder away",
                cell.dir.display(),
                differ.join(", ")
            ));
        }
    }
    if summary.finished() && cell.dir.join("metrics.json").exists() {
        CellState::Done
    } else {
        CellState::Interrupted {
            done: summary.epochs_done,
            epochs: summary.epochs,
        }
    }
}

/// Where cell `i` stands, `Waiting` when it has not started and its source is not done.
pub fn state_of(cells: &[Cell], i: usize) -> CellState {
    let state = cell_state(&cells[i]);
    match cells[i].source {
        Some(s) if state == CellState::Pending && cell_state(&cells[s]) != CellState::Done => {
            CellState::Waiting(cells[s].name.clone())
        }
        _ => state,
    }
}

/// Claims `cell` for this process; `None` when another worker holds it.
fn claim(root: &Path, cell: &Cell) -> Result<Option<RunLock>> {
    let dir = root.join(CLAIMS).join(&cell.name);
    std::fs::create_dir_all(&dir).map_err(|e| TrainError::io("create", &dir, e))?;
    match RunLock::acquire(&dir) {
        Ok(lock) => Ok(Some(lock)),
        // Held by another process (RunLock's refusal); I/O failures are errors.
        Err(TrainError::Other(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What a sweep did.
#[derive(Debug, Default)]
pub struct SweepOutcome {
    /// Cells trained or resumed to the end by this process.
    pub completed: Vec<String>,
    /// Stopped by a signal: the remaining cells were not started.
    pub interrupted: bool,
}

/// `--list`: one line per cell, `index  name  state`.
pub fn list(cells: &[Cell]) -> String {
    let width = cells.iter().map(|c| c.name.len()).max().unwrap_or(4);
    cells
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{i:>4}  {:<width$}  {}\n", c.name, state_of(cells, i)))
        .collect()
}

/// The global flags a `--jobs` child is given besides its adapter.
#[derive(Debug, Default, Clone)]
pub struct ChildFlags {
    /// `--adapter`, used by every child when `--adapters` is not given.
    pub adapter: Option<String>,
    /// `--memory-limit` in bytes.
    pub memory_limit: Option<u64>,
}

/// The sweep's own flags for a child that runs cell `i` alone (`--jobs` and `--adapters`
/// left out, the train flags after `--` as given).
fn child_args(sweep: &SweepArgs, i: usize) -> Vec<OsString> {
    fn list<T>(flag: &str, values: &[T], show: impl Fn(&T) -> String) -> Vec<OsString> {
        if values.is_empty() {
            return Vec::new();
        }
        let joined: Vec<String> = values.iter().map(show).collect();
        vec![flag.into(), joined.join(",").into()]
    }
    let mut a: Vec<OsString> = vec!["sweep".into(), "--root".into(), sweep.root.clone().into()];
    a.extend(list("--method", &sweep.methods, value_name));
    a.extend(list("--bn", &sweep.bns, value_name));
    a.extend(list("--seed", &sweep.seeds, u64::to_string));
    a.extend(list("--dataset", &sweep.datasets, value_name));
    a.extend(list("--imbalance", &sweep.imbalances, f64::to_string));
    if let Some(spec) = &sweep.init_from_cell {
        a.extend(["--init-from-cell".into(), spec.into()]);
    }
    if let Some(plan) = &sweep.plan {
        a.extend(["--plan".into(), plan.clone().into()]);
    }
    if let Some(p) = &sweep.preset {
        a.extend(["--preset".into(), value_name(p).into()]);
    }
    a.extend(["--tune".into(), value_name(&sweep.tune).into()]);
    a.extend(["--cell".into(), i.to_string().into()]);
    a.push("--".into());
    a.extend(sweep.train.iter().map(OsString::from));
    a
}

/// `--jobs N`: runs the cells in up to N child processes at once, one cell each, in order; a
/// cell waiting for its `--init-from-cell` source starts once the source is done. On a signal
/// no more children start and the running ones are sent SIGTERM (they stop with a checkpoint).
pub fn run_jobs(
    sweep: &SweepArgs,
    globals: &ChildFlags,
    stop: &AtomicBool,
) -> Result<SweepOutcome> {
    let cells = cells(sweep)?;
    plan::record(sweep)?;
    let exe = std::env::current_exe()
        .map_err(|e| TrainError::Other(format!("cannot find this program to start jobs: {e}")))?;
    let mut pending: Vec<usize> = (0..cells.len()).collect();
    // (cell, slot, child)
    let mut running: Vec<(usize, usize, std::process::Child)> = Vec::new();
    let (mut outcome, mut failed) = (SweepOutcome::default(), Vec::new());
    let mut forwarded = false;
    loop {
        if stop.load(Ordering::SeqCst) {
            outcome.interrupted = true;
            if !forwarded {
                forwarded = true;
                for (_, _, child) in &running {
                    terminate(child);
                }
            }
        } else {
            let mut k = 0;
            while k < pending.len() && running.len() < sweep.jobs {
                let i = pending[k];
                let state = state_of(&cells, i);
                if state == CellState::Done {
                    println!("cell {i} {}: done", cells[i].name);
                    pending.remove(k);
                    continue;
                }
                if let CellState::Waiting(_) = state {
                    k += 1;
                    continue;
                }
                let slot = (0..sweep.jobs)
                    .find(|s| running.iter().all(|(_, t, _)| t != s))
                    .expect("a slot is free");
                let adapter = match sweep.adapters.len() {
                    0 => globals.adapter.clone(),
                    n => Some(sweep.adapters[slot % n].clone()),
                };
                let mut command = std::process::Command::new(&exe);
                if let Some(a) = &adapter {
                    command.args(["--adapter", a]);
                }
                if let Some(m) = globals.memory_limit {
                    command.args(["--memory-limit".to_string(), m.to_string()]);
                }
                command
                    .args(child_args(sweep, i))
                    .stdin(std::process::Stdio::null());
                // Its own process group: a Ctrl-C reaches the children once, through us.
                #[cfg(unix)]
                std::os::unix::process::CommandExt::process_group(&mut command, 0);
                println!(
                    "job {slot}: cell {i} {}{}",
                    cells[i].name,
                    adapter.map_or(String::new(), |a| format!(" on adapter {a}"))
                );
                let child = command.spawn().map_err(|e| {
                    TrainError::Other(format!("cannot start a job ({}): {e}", exe.display()))
                })?;
                running.push((i, slot, child));
                pending.remove(k);
            }
        }
        if running.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        let mut k = 0;
        while k < running.len() {
            let status = running[k]
                .2
                .try_wait()
                .map_err(|e| TrainError::Other(format!("cannot wait for a job: {e}")))?;
            let Some(status) = status else {
                k += 1;
                continue;
            };
            let (i, _, _) = running.remove(k);
            if !status.success() && !stop.load(Ordering::SeqCst) {
                failed.push(cells[i].name.clone());
            } else if cell_state(&cells[i]) == CellState::Done {
                outcome.completed.push(cells[i].name.clone());
            }
        }
    }
    // Left waiting: their sources did not finish here (stopped, failed, or another worker's).
    if !outcome.interrupted {
        for i in pending {
            println!("cell {i} {}: {}", cells[i].name, state_of(&cells, i));
        }
    }
    if !failed.is_empty() {
        return Err(TrainError::Other(format!(
            "{} cell(s) failed: {} (their messages are above); run the sweep again to retry them",
            failed.len(),
            failed.join(", ")
        )));
    }
    Ok(outcome)
}

/// Asks a child to stop with a checkpoint, as a SIGTERM to this process would.
fn terminate(child: &std::process::Child) {
    #[cfg(unix)]
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill has no memory effects; the pid is our child's, not yet reaped.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    #[cfg(not(unix))]
    let _ = child;
}

/// Runs the sweep's cells (or `--cell I`) that are not done, claimed by no other worker.
/// `open_gpu` is called once, before the first cell that trains. A cell that fails is reported
/// and the others still run; the error at the end names every failed cell.
pub fn run(
    sweep: &SweepArgs,
    open_gpu: &dyn Fn() -> crate::Result<Gpu>,
    stop: &AtomicBool,
) -> Result<SweepOutcome> {
    let cells = cells(sweep)?;
    plan::record(sweep)?;
    let chosen: Vec<usize> = match sweep.cell {
        Some(i) if i >= cells.len() => {
            return Err(TrainError::arg(
                "--cell",
                format!(
                    "{i} is past the last cell: this sweep has {} cells, 0 to {} (see --list)",
                    cells.len(),
                    cells.len() - 1
                ),
            ))
        }
        Some(i) => vec![i],
        None => (0..cells.len()).collect(),
    };
    let mut gpu: Option<Gpu> = None;
    let (mut outcome, mut failed) = (SweepOutcome::default(), Vec::new());
    // (cell, whether it already waited once for its source).
    let mut queue: std::collections::VecDeque<(usize, bool)> =
        chosen.into_iter().map(|i| (i, false)).collect();
    while let Some((i, waited)) = queue.pop_front() {
        if stop.load(Ordering::SeqCst) {
            outcome.interrupted = true;
            break;
        }
        let cell = &cells[i];
        let Some(_claim) = claim(&sweep.root, cell)? else {
            println!("cell {i} {}: another worker has it", cell.name);
            continue;
        };
        // Looked at under the claim: another worker may just have finished it.
        let mut state = state_of(&cells, i);
        if let (CellState::Waiting(_), Some(s)) = (&state, cell.source) {
            if sweep.cell.is_none() && !waited {
                // Its source comes later in this pass, or another worker trains it.
                queue.push_back((i, true));
                continue;
            }
            // A worker training the source holds its claim: wait for it to let go.
            while claim(&sweep.root, &cells[s])?.is_none() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            state = state_of(&cells, i);
        }
        let resume = match &state {
            CellState::Pending => false,
            CellState::Waiting(source) => {
                if stop.load(Ordering::SeqCst) {
                    outcome.interrupted = true;
                    break;
                }
                let source_state =
                    cell_state(&cells[cell.source.expect("a waiting cell has a source")]);
                let why = format!(
                    "starts from cell {source} (--init-from-cell), which is {source_state}; run \
                     the sweep again once it is done"
                );
                // Asked for alone, it is an error (a scheduler should know); in a whole
                // sweep, a source stopped by --max-steps leaves it waiting, a failed source
                // is reported as failed already.
                if sweep.cell.is_some() {
                    eprintln!("error: cell {i} {}: {why}", cell.name);
                    failed.push(cell.name.clone());
                } else {
                    println!("cell {i} {}: waiting: {why}", cell.name);
                }
                continue;
            }
            CellState::Interrupted { .. } => true,
            CellState::Done | CellState::Running => {
                println!("cell {i} {}: {state}", cell.name);
                continue;
            }
            CellState::Conflict(why) => {
                eprintln!("error: cell {i} {}: {why}", cell.name);
                failed.push(cell.name.clone());
                continue;
            }
        };
        let gpu = match &gpu {
            Some(g) => g,
            None => gpu.insert(open_gpu()?),
        };
        println!(
            "cell {i} {}: {} in {}",
            cell.name,
            if resume {
                format!("resuming, {state}")
            } else {
                "training".into()
            },
            cell.dir.display()
        );
        let result = if resume {
            let request = ResumeRequest {
                max_steps: cell.args.max_steps,
                ..ResumeRequest::default()
            };
            run::resume(gpu, &cell.dir, &request, sweep.tune, stop)
        } else {
            run::train(gpu, cell.args.clone(), sweep.tune, stop)
        };
        match result {
            Ok(o) if o.interrupted => {
                println!("cell {i} {}: stopped with a checkpoint", cell.name);
                if stop.load(Ordering::SeqCst) {
                    outcome.interrupted = true;
                    break;
                }
            }
            Ok(_) => {
                println!("cell {i} {}: done", cell.name);
                outcome.completed.push(cell.name.clone());
            }
            Err(e) => {
                eprintln!("error: cell {i} {}: {e}", cell.name);
                failed.push(cell.name.clone());
            }
        }
    }
    if !failed.is_empty() {
        return Err(TrainError::Other(format!(
            "{} cell(s) failed: {} (their messages are above); run the sweep again to retry them",
            failed.len(),
            failed.join(", ")
        )));
    }
    Ok(outcome)
}
