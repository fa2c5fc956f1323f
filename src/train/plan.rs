//! `purenoise sweep --plan plan.toml`: a sweep written down. The plan's keys are the sweep's
//! flags without their dashes (the list-valued axes, `init-from-cell`, `preset`) and a `[train]`
//! table of `purenoise train` flags for every cell:
//!
//! ```toml
//! method = ["erm", "open"]
//! seed = [0, 1, 2]
//! preset = "small"
//! [train]
//! epochs = 30
//! milestones = [20, 25]
//! ```
//!
//! Each value becomes the flag's text and goes through the command line's own parser, so a plan
//! makes exactly the cells its flags would, and a bad value gets the same message, prefixed with
//! the file and the key. A setting given both in the plan and on the command line is refused:
//! each has one place, so no reader has to know which would win.
//!
//! The first sweep that trains from a plan keeps a copy of it in the root ([`RECORD`]); a later
//! sweep on that root with a different plan, or with none, is refused, naming the keys that
//! differ, since its cells would mix with the recorded sweep's.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};
use toml::{Table, Value};

use super::error::{Result, TrainError};
use super::sweep::{SweepArgs, TrainCli};
use crate::input::read_text;

/// The copy of the plan in the sweep's root.
pub const RECORD: &str = ".sweep-plan.toml";
/// The most bytes a plan may have (a plan is a few lines).
const MAX_PLAN_BYTES: u64 = 1 << 20;
/// The plan's keys that are the sweep's own flags.
const SWEEP_KEYS: [&str; 7] = [
    "method",
    "bn",
    "seed",
    "dataset",
    "imbalance",
    "init-from-cell",
    "preset",
];
/// Train flags a plan's `[train]` cannot hold, and where they belong instead.
const NOT_TRAIN: [(&str, &str); 2] = [
    (
        "out",
        "each cell's run folder is the sweep's --root/<cell name>",
    ),
    ("overwrite", "a sweep never replaces a cell's run folder"),
];

#[derive(Parser)]
#[command(name = "purenoise sweep", allow_negative_numbers = true)]
struct SweepCli {
    #[command(flatten)]
    args: SweepArgs,
}

/// A plan read from its file.
pub struct Plan {
    pub path: PathBuf,
    pub text: String,
    pub table: Table,
}

impl Plan {
    /// Reads and parses `path` (TOML syntax only; the keys are checked by [`resolve`]).
    pub fn read(path: &Path) -> Result<Plan> {
        let text = read_text(path, MAX_PLAN_BYTES, "a sweep plan")
            .map_err(|e| TrainError::io("read the sweep plan", path, e))?;
        let table = parse(path, &text)?;
        Ok(Plan {
            path: path.to_path_buf(),
            text,
            table,
        })
    }

    fn error(&self, key: &str, message: impl std::fmt::Display) -> TrainError {
        TrainError::Other(format!("{}: {key}: {message}", self.path.display()))
    }
}

fn parse(path: &Path, text: &str) -> Result<Table> {
    text.parse::<Table>().map_err(|e| {
        TrainError::Other(format!(
            "{} is not a valid TOML file: {}",
            path.display(),
            e.to_string().trim_end()
        ))
    })
}

/// The flag's text for a plan value: a scalar as is, a list of scalars joined by commas
/// (`list` says whether the flag takes one).
fn value_text(plan: &Plan, key: &str, value: &Value, list: bool) -> Result<String> {
    let scalar = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Integer(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            _ => None,
        }
    };
    let shape = if list {
        "a value or a list of values (strings or numbers)"
    } else {
        "one value (a string or a number)"
    };
    match value {
        Value::Array(items) if list => {
            if items.is_empty() {
                return Err(plan.error(key, "is an empty list; give at least one value"));
            }
            let texts: Option<Vec<String>> = items.iter().map(scalar).collect();
            texts.map(|t| t.join(",")).ok_or_else(|| {
                let odd = items
                    .iter()
                    .find(|v| scalar(v).is_none())
                    .expect("one is odd");
                plan.error(
                    key,
                    format!("takes {shape}, not a list holding {}", odd.type_str()),
                )
            })
        }
        Value::Array(_) => Err(plan.error(key, format!("takes {shape}, not a list"))),
        other => scalar(other)
            .ok_or_else(|| plan.error(key, format!("takes {shape}, not {}", other.type_str()))),
    }
}

/// clap's message without its usage and help lines.
fn clap_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let lines: Vec<&str> = (text.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more"))
        .map(|l| l.trim_start_matches("error: "))
        .collect();
    lines.join(" ")
}

/// A sweep with its plan's settings filled in.
pub struct Resolved {
    pub sweep: SweepArgs,
    /// The plan's file and its keys (`train.NAME` for `[train]`'s).
    plan: Option<(PathBuf, Vec<String>)>,
}

impl Resolved {
    /// An error about a flag (`--lr: ...`, `--momentum/--lr-decay: ...`) set by the plan,
    /// prefixed with the plan's file and key, so the user knows where to look.
    pub fn blame(&self, e: TrainError) -> TrainError {
        let (Some((path, keys)), TrainError::Arg { flag, message }) = (&self.plan, &e) else {
            return e;
        };
        let key = flag.split('/').find_map(|f| {
            let name = f.strip_prefix("--")?;
            (keys.iter()).find(|k| *k == name || k.strip_prefix("train.") == Some(name))
        });
        match key {
            Some(key) => TrainError::Other(format!("{}: {key}: {flag}: {message}", path.display())),
            None => e,
        }
    }
}

/// The sweep `sweep` describes with its plan's settings filled in: the plan's axes,
/// `init-from-cell` and `preset` where the command line gave none, the plan's `[train]` flags
/// before the command line's. Without `--plan`, the sweep as given, once its root is checked
/// to hold no plan's sweep.
pub fn resolve(sweep: &SweepArgs) -> Result<Resolved> {
    let Some(path) = &sweep.plan else {
        let record = sweep.root.join(RECORD);
        if record.exists() {
            return Err(TrainError::arg(
                "--plan",
                format!(
                    "{} holds the sweep of a plan (its copy is {}); continue it with --plan {} \
                     (and the same command-line settings), or give another --root",
                    sweep.root.display(),
                    record.display(),
                    record.display()
                ),
            ));
        }
        return Ok(Resolved {
            sweep: sweep.clone(),
            plan: None,
        });
    };
    let plan = Plan::read(path)?;
    let mut out = sweep.clone();
    let mut train: Vec<String> = Vec::new();
    for (key, value) in &plan.table {
        if key == "train" {
            let Value::Table(flags) = value else {
                return Err(plan.error(
                    key,
                    format!(
                        "must be a table of train flags ([train] followed by lines such as \
                         epochs = 30), not {}",
                        value.type_str()
                    ),
                ));
            };
            train = train_flags(&plan, flags, &sweep.train)?;
            continue;
        }
        if !SWEEP_KEYS.contains(&key.as_str()) {
            let hint = if TrainCli::command()
                .get_arguments()
                .any(|a| a.get_long() == Some(key.as_str()))
            {
                format!(" ({key} is a train flag: put it under [train])")
            } else {
                String::new()
            };
            return Err(plan.error(
                key,
                format!(
                    "is not a key of a sweep plan{hint}; the keys are {} and a [train] table of \
                     `purenoise train` flags",
                    SWEEP_KEYS.join(", ")
                ),
            ));
        }
        let text = value_text(
            &plan,
            key,
            value,
            !matches!(key.as_str(), "init-from-cell" | "preset"),
        )?;
        let argv: Vec<OsString> = ["sweep", "--root", "."]
            .into_iter()
            .map(OsString::from)
            .chain([OsString::from(format!("--{key}={text}"))])
            .collect();
        let parsed = SweepCli::command()
            .try_get_matches_from(argv)
            .and_then(|m| SweepCli::from_arg_matches(&m))
            .map_err(|e| plan.error(key, clap_message(&e)))?
            .args;
        let twice = || {
            TrainError::Other(format!(
                "--{key} is given both on the command line and in the plan {}; give it in one \
                 place",
                plan.path.display()
            ))
        };
        match key.as_str() {
            "method" if sweep.methods.is_empty() => out.methods = parsed.methods,
            "bn" if sweep.bns.is_empty() => out.bns = parsed.bns,
            "seed" if sweep.seeds.is_empty() => out.seeds = parsed.seeds,
            "dataset" if sweep.datasets.is_empty() => out.datasets = parsed.datasets,
            "imbalance" if sweep.imbalances.is_empty() => out.imbalances = parsed.imbalances,
            "init-from-cell" if sweep.init_from_cell.is_none() => {
                out.init_from_cell = parsed.init_from_cell
            }
            "preset" if sweep.preset.is_none() => out.preset = parsed.preset,
            _ => return Err(twice()),
        }
    }
    check_record(&sweep.root, &plan)?;
    train.extend(sweep.train.iter().cloned());
    out.train = train;
    let keys = (plan.table.iter())
        .flat_map(|(k, v)| match v {
            Value::Table(flags) => flags.keys().map(|n| format!("train.{n}")).collect(),
            _ => vec![k.clone()],
        })
        .collect();
    Ok(Resolved {
        sweep: out,
        plan: Some((plan.path, keys)),
    })
}

/// `[train]` as train flags (`--key=value`, or `--key` for a switch set to true), each checked
/// alone by train's parser and against the command line's train flags.
fn train_flags(plan: &Plan, flags: &Table, command_line: &[String]) -> Result<Vec<String>> {
    let command = TrainCli::command();
    // Flags the command line gave after `--`; if they do not parse, the cells say why.
    let given = TrainCli::command()
        .try_get_matches_from(
            std::iter::once("train".to_string()).chain(command_line.iter().cloned()),
        )
        .ok();
    let mut out = Vec::new();
    for (name, value) in flags {
        let key = format!("train.{name}");
        if let Some((_, why)) = NOT_TRAIN.iter().find(|(n, _)| n == name) {
            return Err(plan.error(&key, format!("cannot be set by a sweep: {why}")));
        }
        if SWEEP_KEYS.contains(&name.as_str()) {
            return Err(plan.error(
                &key,
                format!(
                    "is a setting of the sweep: give it at the top of the plan, before [train] \
                     (e.g. {name} = [...])"
                ),
            ));
        }
        let Some(arg) = command
            .get_arguments()
            .find(|a| a.get_long() == Some(name.as_str()))
        else {
            let dashed = name.replace('_', "-");
            let hint = if dashed != *name
                && command
                    .get_arguments()
                    .any(|a| a.get_long() == Some(dashed.as_str()))
            {
                format!(" (did you mean {dashed}?)")
            } else {
                String::new()
            };
            return Err(plan.error(
                &key,
                format!(
                    "is not a flag of `purenoise train`{hint}; [train] takes its flags without \
                     the dashes (see purenoise train --help)"
                ),
            ));
        };
        if given.as_ref().is_some_and(|m| {
            m.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine)
        }) {
            return Err(TrainError::Other(format!(
                "--{name} is given both after -- on the command line and in the plan {} ([train] \
                 {name}); give it in one place",
                plan.path.display()
            )));
        }
        let flag = match (arg.get_action(), value) {
            (ArgAction::SetTrue, Value::Boolean(true)) => Some(format!("--{name}")),
            (ArgAction::SetTrue, Value::Boolean(false)) => None,
            (ArgAction::SetTrue, other) => {
                return Err(plan.error(
                    &key,
                    format!("is a switch: give true or false, not {}", other.type_str()),
                ))
            }
            (_, Value::Boolean(_)) => {
                return Err(plan.error(
                    &key,
                    "takes a value (see purenoise train --help), not true or false",
                ))
            }
            (_, v) => {
                let list = arg.get_value_delimiter().is_some();
                Some(format!("--{name}={}", value_text(plan, &key, v, list)?))
            }
        };
        if let Some(flag) = flag {
            TrainCli::command()
                .try_get_matches_from(["train", flag.as_str()])
                .map_err(|e| plan.error(&key, clap_message(&e)))?;
            out.push(flag);
        }
    }
    Ok(out)
}

/// The plan's keys (`train.NAME` for `[train]`'s) whose values differ between two plans.
fn differing_keys(a: &Table, b: &Table) -> Vec<String> {
    let flat = |t: &Table| -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for (k, v) in t {
            match v {
                Value::Table(inner) if k == "train" => {
                    out.extend(inner.iter().map(|(n, v)| (format!("train.{n}"), v.clone())))
                }
                _ => out.push((k.clone(), v.clone())),
            }
        }
        out
    };
    let (a, b) = (flat(a), flat(b));
    let mut keys: Vec<String> = (a.iter().chain(&b))
        .filter(|(k, v)| {
            a.iter().find(|(x, _)| x == k).map(|(_, w)| w) != Some(v)
                || b.iter().find(|(x, _)| x == k).map(|(_, w)| w) != Some(v)
        })
        .map(|(k, _)| k.clone())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Refuses a plan that differs from the one recorded in `root`.
fn check_record(root: &Path, plan: &Plan) -> Result<()> {
    let record = root.join(RECORD);
    if !record.exists() {
        return Ok(());
    }
    let recorded = read_text(&record, MAX_PLAN_BYTES, "a sweep plan")
        .map_err(|e| TrainError::io("read the recorded sweep plan", &record, e))
        .and_then(|text| parse(&record, &text))?;
    let differ = differing_keys(&recorded, &plan.table);
    if differ.is_empty() {
        return Ok(());
    }
    Err(TrainError::Other(format!(
        "{}: {} holds the sweep of another plan (its copy is {}; they differ in {}), and the \
         cells of two sweeps would mix there; give another --root, or continue the recorded \
         sweep with --plan {}",
        plan.path.display(),
        root.display(),
        record.display(),
        differ.join(", "),
        record.display()
    )))
}

/// Keeps a copy of the sweep's plan in its root, unless one is there (checked equal by
/// [`resolve`]). Created without replacing: of two workers starting at once, one writes it and
/// the other finds it and compares.
pub fn record(sweep: &SweepArgs) -> Result<()> {
    let Some(path) = &sweep.plan else {
        return Ok(());
    };
    let plan = Plan::read(path)?;
    let root = &sweep.root;
    std::fs::create_dir_all(root).map_err(|e| TrainError::io("create", root, e))?;
    let record = root.join(RECORD);
    if record.exists() {
        return check_record(root, &plan);
    }
    let tmp = crate::atomic::temporary_path(&record).expect("RECORD names a file");
    let text = format!(
        "# The plan of the sweep in this folder, copied from {} by its first run; later runs \
         here must give the same plan.\n{}",
        path.display(),
        plan.text
    );
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        // A link fails where the name exists, so a plan recorded meanwhile is never replaced.
        std::fs::hard_link(&tmp, &record)
    })();
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => check_record(root, &plan),
        Err(e) => Err(TrainError::io("write", &record, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::sweep::{cells, Cell};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SweepArgs,
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("purenoise-plan-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn sweep_args(root: &Path, argv: &[&str]) -> SweepArgs {
        let root = root.to_str().unwrap();
        Cli::try_parse_from(["sweep", "--root", root].iter().chain(argv))
            .unwrap()
            .args
    }

    /// What a cell is: its name, folder, source and every train flag.
    fn described(cells: &[Cell]) -> Vec<(String, PathBuf, Option<usize>, String)> {
        (cells.iter())
            .map(|c| {
                let args = serde_json::to_string(&c.args).unwrap();
                (c.name.clone(), c.dir.clone(), c.source, args)
            })
            .collect()
    }

    #[test]
    fn a_plan_makes_the_cells_of_its_flags() {
        let dir = tmpdir("same");
        let plan = dir.join("plan.toml");
        std::fs::write(
            &plan,
            r#"
# OPeN from ERM's epoch 3, two seeds, two BN modes.
method = ["erm", "open"]
bn = ["darbn", "standard"]
seed = [0, 1]
dataset = "cifar10"
imbalance = [100, 50.5]
init-from-cell = "method=erm@3"
preset = "small"

[train]
epochs = 6
milestones = [4, 5]
lr = 0.05
noise-normalize = true
weights-only = false
no-download = true
"#,
        )
        .unwrap();
        let root = dir.join("root");
        let from_plan = cells(&sweep_args(&root, &["--plan", plan.to_str().unwrap()])).unwrap();
        let from_flags = cells(&sweep_args(
            &root,
            &[
                "--method",
                "erm,open",
                "--bn",
                "darbn,standard",
                "--seed",
                "0,1",
                "--dataset",
                "cifar10",
                "--imbalance",
                "100,50.5",
                "--init-from-cell",
                "method=erm@3",
                "--preset",
                "small",
                "--",
                "--epochs",
                "6",
                "--milestones",
                "4",
                "5",
                "--lr",
                "0.05",
                "--noise-normalize",
                "--no-download",
            ],
        ))
        .unwrap();
        assert_eq!(from_plan.len(), 16);
        assert_eq!(described(&from_plan), described(&from_flags));
        let open = (from_plan.iter())
            .find(|c| c.name == "cifar10-ir100-open-darbn-seed0")
            .unwrap();
        let source = &from_plan[open.source.unwrap()];
        assert_eq!(source.name, "cifar10-ir100-erm-darbn-seed0");
        assert_eq!(source.args.epochs, 3);
        assert_eq!(
            (open.args.epochs, open.args.lr, open.args.model.as_str()),
            (6, 0.05, "resnet-8")
        );
        assert!(open.args.noise_normalize && !open.args.weights_only);

        // The plan and the command line combine when they set different things; the command
        // line's train flags come after the plan's.
        let combined = cells(&sweep_args(
            &root,
            &[
                "--plan",
                plan.to_str().unwrap(),
                "--",
                "--max-class-size",
                "50",
            ],
        ))
        .unwrap();
        assert_eq!(combined.len(), 16);
        assert!(combined
            .iter()
            .all(|c| c.args.data.subset.max_class_size == Some(50)));
        let epochs = |cells: &[Cell]| cells.iter().map(|c| c.args.epochs).collect::<Vec<_>>();
        assert_eq!(epochs(&combined), epochs(&from_plan));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_plans_are_refused_naming_the_file_the_key_and_what_it_takes() {
        let dir = tmpdir("bad");
        let plan = dir.join("plan.toml");
        let p = plan.display().to_string();
        let refused = |text: &str, argv: &[&str]| -> String {
            std::fs::write(&plan, text).unwrap();
            let mut all = vec!["--plan", plan.to_str().unwrap()];
            all.extend(argv);
            cells(&sweep_args(&dir.join("root"), &all))
                .err()
                .unwrap_or_else(|| panic!("{text:?} {argv:?} was accepted"))
                .to_string()
        };
        for (text, argv, want) in [
            (
                "method = [\"erm\", \"fancy\"]",
                &[][..],
                format!("{p}: method: invalid value 'fancy' for '--method"),
            ),
            (
                "method = [\"erm\", \"fancy\"]",
                &[],
                "[possible values: erm, rs, drs, open]".into(),
            ),
            (
                "seed = [0, \"one\"]",
                &[],
                format!("{p}: seed: invalid value 'one' for '--seed"),
            ),
            (
                "seed = [[0]]",
                &[],
                format!("{p}: seed: takes a value or a list of values (strings or numbers), not a list holding array"),
            ),
            (
                "method = []",
                &[],
                format!("{p}: method: is an empty list; give at least one value"),
            ),
            (
                "preset = [\"small\"]",
                &[],
                format!("{p}: preset: takes one value (a string or a number), not a list"),
            ),
            (
                "preset = \"large\"",
                &[],
                format!("{p}: preset: invalid value 'large' for '--preset"),
            ),
            (
                "methods = [\"erm\"]",
                &[],
                format!("{p}: methods: is not a key of a sweep plan; the keys are method, bn, seed, dataset, imbalance, init-from-cell, preset and a [train] table"),
            ),
            (
                "epochs = 3",
                &[],
                format!("{p}: epochs: is not a key of a sweep plan (epochs is a train flag: put it under [train])"),
            ),
            (
                "train = 3",
                &[],
                format!("{p}: train: must be a table of train flags"),
            ),
            (
                "[train]\nepochs = \"many\"",
                &[],
                format!("{p}: train.epochs: invalid value 'many' for '--epochs <EPOCHS>'"),
            ),
            (
                "[train]\nepochs = 1.5",
                &[],
                format!("{p}: train.epochs: invalid value '1.5' for '--epochs <EPOCHS>'"),
            ),
            (
                "[train]\nepochs = [1, 2]",
                &[],
                format!("{p}: train.epochs: takes one value (a string or a number), not a list"),
            ),
            (
                "[train]\nbatch_size = 8",
                &[],
                format!("{p}: train.batch_size: is not a flag of `purenoise train` (did you mean batch-size?)"),
            ),
            (
                "[train]\nfancy = 8",
                &[],
                format!("{p}: train.fancy: is not a flag of `purenoise train`; [train] takes its flags without the dashes"),
            ),
            (
                "[train]\nnoise-normalize = 1",
                &[],
                format!("{p}: train.noise-normalize: is a switch: give true or false, not integer"),
            ),
            (
                "[train]\nlr = true",
                &[],
                format!("{p}: train.lr: takes a value (see purenoise train --help), not true or false"),
            ),
            (
                "[train]\nout = \"x\"",
                &[],
                format!("{p}: train.out: cannot be set by a sweep"),
            ),
            (
                "[train]\nseed = 1",
                &[],
                format!("{p}: train.seed: is a setting of the sweep: give it at the top of the plan"),
            ),
            (
                "[train]\naugment = \"some\"",
                &[],
                "[possible values: none, basic, full]".into(),
            ),
            (
                "method = [\"erm\"]",
                &["--method", "open"],
                format!("--method is given both on the command line and in the plan {p}; give it in one place"),
            ),
            (
                "[train]\nepochs = 3",
                &["--", "--epochs", "4"],
                format!("--epochs is given both after -- on the command line and in the plan {p} ([train] epochs)"),
            ),
            (
                "preset = \"small\"",
                &["--", "--preset", "quick"],
                "--preset: is given both to the sweep (or in its plan) and among the train flags".into(),
            ),
            (
                "[train]\nmilestones = [5, 3]",
                &[],
                format!("{p}: train.milestones: --milestones: must be increasing epochs"),
            ),
            (
                "[train]\nmomentum = 1.5",
                &[],
                format!("{p}: train.momentum: --momentum/--weight-decay/--lr-decay: need momentum in [0, 1)"),
            ),
            (
                "method = \"erm\"\ninit-from-cell = \"method=drs@1\"",
                &[],
                format!("{p}: init-from-cell: --init-from-cell: no cell of this sweep has --method drs"),
            ),
            (
                "method = \"erm\"\nmethod = \"open\"",
                &[],
                format!("{p} is not a valid TOML file: "),
            ),
        ] {
            let e = refused(text, argv);
            assert!(e.contains(&want), "{text:?} {argv:?}:\n{e}\nwants\n{want}");
        }
        let missing = dir.join("none.toml");
        let e = cells(&sweep_args(&dir, &["--plan", missing.to_str().unwrap()]))
            .unwrap_err()
            .to_string();
        assert!(e.contains(&missing.display().to_string()), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_root_keeps_its_plan_and_refuses_another() {
        let dir = tmpdir("record");
        let root = dir.join("root");
        let (a, b) = (dir.join("a.toml"), dir.join("b.toml"));
        std::fs::write(&a, "method = [\"erm\", \"open\"]\n[train]\nepochs = 3\n").unwrap();
        let with = |plan: &Path| sweep_args(&root, &["--plan", plan.to_str().unwrap()]);
        record(&with(&a)).unwrap();
        let copy = root.join(RECORD);
        assert!(std::fs::read_to_string(&copy)
            .unwrap()
            .ends_with("[train]\nepochs = 3\n"));
        // The same plan, written differently, is the same plan; recording again keeps the copy.
        std::fs::write(
            &b,
            "# again\nmethod = [ 'erm', 'open' ]\ntrain = { epochs = 3 }\n",
        )
        .unwrap();
        assert_eq!(cells(&with(&b)).unwrap().len(), 2);
        record(&with(&b)).unwrap();
        assert!(std::fs::read_to_string(&copy)
            .unwrap()
            .contains(&a.display().to_string()));
        // Another plan, or none, is refused with the keys that differ and the way on.
        std::fs::write(
            &b,
            "method = [\"erm\", \"drs\"]\nseed = [1]\n[train]\nepochs = 3\n",
        )
        .unwrap();
        let e = cells(&with(&b)).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "{}: {} holds the sweep of another plan",
                b.display(),
                root.display()
            )) && e.contains("they differ in method, seed)")
                && e.ends_with(&format!("--plan {}", copy.display())),
            "{e}"
        );
        assert!(record(&with(&b)).is_err());
        let e = cells(&sweep_args(&root, &["--method", "erm"]))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--plan: ") && e.contains("holds the sweep of a plan"),
            "{e}"
        );
        // The copy continues the sweep.
        assert_eq!(cells(&with(&copy)).unwrap().len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
