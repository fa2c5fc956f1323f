//! `purenoise sweep`: tiny cells on real CIFAR-10 (`PURENOISE_DATA_DIR`) trained by the binary:
//! a sweep stopped mid-way and run again completes every cell exactly once, a third run skips
//! them all, two workers on one root never run a cell twice; and (no training) the cells'
//! names, states and the refusals of flags a sweep cannot take.

mod data_common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_purenoise");
/// A cell that trains in seconds on a software adapter: at most 5 images a class, 4-image
/// batches, 20 test images (epochs are given per test).
const TINY: &[&str] = &[
    "--model",
    "resnet-8",
    "--max-class-size",
    "5",
    "--batch-size",
    "4",
    "--eval-limit",
    "20",
    "--no-download",
];

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("purenoise-sweep-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn sweep(root: &Path, axes: &[&str], train: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    data_common::untuned(&mut c);
    c.arg("sweep").arg("--root").arg(root).args(axes).arg("--");
    c.args(TINY).args(train);
    c
}

fn ok(out: Output) -> String {
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    stdout
}

/// The epochs recorded in a cell's metrics.jsonl.
fn epochs(dir: &Path) -> Vec<u64> {
    data_common::metrics(dir)
        .iter()
        .map(|m| m["epoch"].as_u64().unwrap())
        .collect()
}

fn run_id(dir: &Path) -> String {
    let text = fs::read_to_string(dir.join("config.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["run_id"].as_str().unwrap().to_string()
}

const AXES: &[&str] = &["--method", "erm,open", "--seed", "0"];
/// Two epochs, OPeN from the second.
const TWO: &[&str] = &["--epochs", "2", "--milestones", "1", "--defer-epoch", "1"];
const LIST: &[&str] = &["--list", "--method", "erm,open", "--seed", "0"];

#[test]
fn a_sweep_stopped_midway_and_run_again_completes_each_cell_once() {
    let root = tmpdir("resume");
    // Every cell stops after its first step, as a killed worker's cells would.
    let first = ok(sweep(&root, AXES, &[TWO, &["--max-steps", "1"]].concat())
        .output()
        .unwrap());
    assert!(first.contains("cell 0 erm-seed0: training"), "{first}");
    assert!(
        first.contains("cell 1 open-seed0: stopped with a checkpoint"),
        "{first}"
    );
    let listed = ok(sweep(&root, LIST, TWO).output().unwrap());
    assert_eq!(
        listed,
        "   0  erm-seed0   interrupted (0/2 epochs)\n   1  open-seed0  interrupted (0/2 epochs)\n"
    );
    let ids: Vec<String> = ["erm-seed0", "open-seed0"]
        .iter()
        .map(|c| run_id(&root.join(c)))
        .collect();

    let second = ok(sweep(&root, AXES, TWO).output().unwrap());
    assert!(
        second.contains("cell 0 erm-seed0: resuming, interrupted (0/2 epochs)"),
        "{second}"
    );
    assert!(second.contains("cell 1 open-seed0: done"), "{second}");
    assert!(
        second.contains("2 cell(s) completed by this process"),
        "{second}"
    );
    for (cell, id) in ["erm-seed0", "open-seed0"].iter().zip(&ids) {
        let dir = root.join(cell);
        // Resumed in place (the same run), each epoch recorded once.
        assert_eq!(&run_id(&dir), id);
        assert_eq!(epochs(&dir), [0, 1], "{cell}");
        assert!(dir.join("metrics.json").is_file());
    }
    let before = fs::metadata(root.join("erm-seed0/metrics.json"))
        .unwrap()
        .modified()
        .unwrap();

    let third = ok(sweep(&root, AXES, TWO).output().unwrap());
    assert!(
        third.contains("cell 0 erm-seed0: done\ncell 1 open-seed0: done\n")
            && third.contains("0 cell(s) completed by this process"),
        "{third}"
    );
    let after = fs::metadata(root.join("erm-seed0/metrics.json"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after, "a finished cell was touched");
    // The sweep's root is a table's input.
    let table = ok(Command::new(BIN).arg("table").arg(&root).output().unwrap());
    assert!(
        table.contains("| erm | 1 | 0 |") && table.contains("| open | 1 | 0 |"),
        "{table}"
    );
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_worker_killed_mid_cell_leaves_a_sweep_that_completes_each_cell_once() {
    let root = tmpdir("kill");
    let mut worker = sweep(&root, AXES, TWO)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // SIGKILL once the first cell has its first checkpoint: no handler, no clean-up.
    let first = root.join("erm-seed0");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while !first.join("last.safetensors").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint within 300 s"
        );
        assert!(
            worker.try_wait().unwrap().is_none(),
            "the worker ended early"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    worker.kill().unwrap();
    worker.wait().unwrap();
    let id = run_id(&first);
    let again = ok(sweep(&root, AXES, TWO).output().unwrap());
    assert!(again.contains("cell 1 open-seed0: done"), "{again}");
    assert_eq!(run_id(&first), id, "the killed cell was started over");
    for cell in ["erm-seed0", "open-seed0"] {
        assert_eq!(epochs(&root.join(cell)), [0, 1], "{cell}");
        assert!(root.join(cell).join("metrics.json").is_file(), "{cell}");
    }
    let listed = ok(sweep(&root, LIST, TWO).output().unwrap());
    assert_eq!(listed.matches("  done\n").count(), 2, "{listed}");
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn two_workers_on_one_root_never_run_a_cell_twice() {
    let root = tmpdir("workers");
    let axes = ["--method", "erm,open", "--seed", "0,1"];
    let workers: Vec<_> = (0..2)
        .map(|_| {
            sweep(
                &root,
                &axes,
                &["--epochs", "1", "--milestones", "0", "--defer-epoch", "0"],
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let outputs: Vec<String> = workers
        .into_iter()
        .map(|w| ok(w.wait_with_output().unwrap()))
        .collect();
    let all = outputs.join("\n");
    for (i, cell) in ["erm-seed0", "open-seed0", "erm-seed1", "open-seed1"]
        .iter()
        .enumerate()
    {
        let trained = all.matches(&format!("cell {i} {cell}: training")).count();
        assert_eq!(trained, 1, "cell {cell} trained {trained} times:\n{all}");
        assert_eq!(epochs(&root.join(cell)), [0], "{cell}");
    }
    let listed = ok(sweep(
        &root,
        &[&["--list"], &axes[..]].concat(),
        &["--epochs", "1", "--milestones", "0", "--defer-epoch", "0"],
    )
    .output()
    .unwrap());
    assert_eq!(listed.matches("  done\n").count(), 4, "{listed}");
    fs::remove_dir_all(&root).unwrap();
}

fn config_args(dir: &Path) -> serde_json::Value {
    let text = fs::read_to_string(dir.join("config.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["args"].clone()
}

#[test]
fn each_open_cell_starts_from_its_seeds_erm_cell() {
    let root = tmpdir("init-from-cell");
    // Listed open first: the sources are still ordered before the cells they start.
    let axes = [
        "--method",
        "open,erm",
        "--seed",
        "0,1",
        "--init-from-cell",
        "method=erm@1",
    ];
    let list = [&["--list"], &axes[..]].concat();
    let listed = ok(sweep(&root, &list, TWO).output().unwrap());
    assert_eq!(
        listed,
        "   0  erm-seed0   pending\n   1  open-seed0  waiting for erm-seed0\n   \
         2  erm-seed1   pending\n   3  open-seed1  waiting for erm-seed1\n"
    );
    // Alone, a cell whose source has not run is refused, and nothing trains.
    let out = sweep(&root, &[&axes[..], &["--cell", "3"]].concat(), TWO)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            "error: cell 3 open-seed1: starts from cell erm-seed1 (--init-from-cell), which is \
             pending"
        ),
        "{stderr}"
    );
    assert!(!root.join("open-seed1").exists());

    let all = ok(sweep(&root, &axes, TWO).output().unwrap());
    let at = |line: &str| all.find(line).unwrap_or_else(|| panic!("{line}:\n{all}"));
    assert!(at("cell 0 erm-seed0: done") < at("cell 1 open-seed0: training"));
    assert!(at("cell 2 erm-seed1: done") < at("cell 3 open-seed1: training"));
    assert!(all.contains("4 cell(s) completed by this process"), "{all}");
    for seed in ["0", "1"] {
        let (erm, open) = (
            root.join(format!("erm-seed{seed}")),
            root.join(format!("open-seed{seed}")),
        );
        // The erm cells stop at @1; the open cells continue from their seed's erm at epoch 1.
        let (erm_args, open_args) = (config_args(&erm), config_args(&open));
        assert_eq!(erm_args["init_from"], serde_json::Value::Null);
        assert_eq!(erm_args["epochs"], 1);
        assert_eq!(
            open_args["init_from"],
            erm.join("last.safetensors").to_str().unwrap()
        );
        assert_eq!(open_args["epochs"], 2);
        assert_eq!(epochs(&erm), [0]);
        assert_eq!(epochs(&open), [1]);
    }
    let listed = ok(sweep(&root, &list, TWO).output().unwrap());
    assert_eq!(listed.matches("  done\n").count(), 4, "{listed}");
    let again = ok(sweep(&root, &axes, TWO).output().unwrap());
    assert!(
        again.contains("0 cell(s) completed by this process"),
        "{again}"
    );
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn two_workers_run_a_cell_after_its_source_once() {
    let root = tmpdir("workers-init-from-cell");
    let axes = [
        "--method",
        "erm,open",
        "--seed",
        "0",
        "--init-from-cell",
        "method=erm@1",
    ];
    // Whichever worker reaches the open cell while the other trains erm waits for erm's claim.
    let workers: Vec<_> = (0..2)
        .map(|_| {
            sweep(&root, &axes, TWO)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let all: Vec<String> = workers
        .into_iter()
        .map(|w| ok(w.wait_with_output().unwrap()))
        .collect();
    let all = all.join("\n");
    for (i, cell) in ["erm-seed0", "open-seed0"].iter().enumerate() {
        let trained = all.matches(&format!("cell {i} {cell}: training")).count();
        assert_eq!(trained, 1, "cell {cell} trained {trained} times:\n{all}");
    }
    assert_eq!(epochs(&root.join("erm-seed0")), [0]);
    assert_eq!(epochs(&root.join("open-seed0")), [1]);
    assert_eq!(
        config_args(&root.join("open-seed0"))["init_from"],
        root.join("erm-seed0/last.safetensors").to_str().unwrap()
    );
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn jobs_run_cells_at_once_and_train_each_once() {
    let root = tmpdir("jobs");
    let axes = [
        "--method",
        "erm,open",
        "--seed",
        "0,1",
        "--jobs",
        "2",
        "--adapters",
        "0,0",
    ];
    let one = ["--epochs", "1", "--milestones", "0", "--defer-epoch", "0"];
    let all = ok(sweep(&root, &axes, &one).output().unwrap());
    for (i, cell) in ["erm-seed0", "open-seed0", "erm-seed1", "open-seed1"]
        .iter()
        .enumerate()
    {
        let started = all
            .matches(&format!("cell {i} {cell} on adapter 0\n"))
            .count();
        let trained = all.matches(&format!("cell {i} {cell}: training")).count();
        assert_eq!((started, trained), (1, 1), "{cell}:\n{all}");
        assert_eq!(epochs(&root.join(cell)), [0], "{cell}");
    }
    // Two children at once: the second cell starts before the first is done.
    let at = |line: &str| all.find(line).unwrap_or_else(|| panic!("{line}:\n{all}"));
    assert!(at("job 0: cell 0 erm-seed0 on adapter 0\n") < at("job 1: cell 1 open-seed0"));
    assert!(at("job 1: cell 1 open-seed0 on adapter 0\n") < at("cell 0 erm-seed0: done"));
    assert!(
        all.ends_with("4 cell(s) completed by this process\n"),
        "{all}"
    );
    // Run again: every cell is done, no child starts.
    let again = ok(sweep(&root, &axes, &one).output().unwrap());
    assert!(!again.contains("job "), "{again}");
    assert!(
        again.contains("0 cell(s) completed by this process"),
        "{again}"
    );
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn cells_are_named_by_their_values_and_bad_sweeps_are_refused() {
    let root = tmpdir("names");
    let listed = ok(Command::new(BIN)
        .args(["sweep", "--list", "--root"])
        .arg(&root)
        .args([
            "--dataset",
            "cifar10,cifar100",
            "--imbalance",
            "100,50",
            "--bn",
            "darbn,auxbn",
        ])
        .args(["--seed", "3", "--method", "open"])
        .output()
        .unwrap());
    let names: Vec<&str> = listed
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "cifar10-ir100-open-darbn-seed3",
            "cifar10-ir100-open-auxbn-seed3",
            "cifar10-ir50-open-darbn-seed3",
            "cifar10-ir50-open-auxbn-seed3",
            "cifar100-ir100-open-darbn-seed3",
            "cifar100-ir100-open-auxbn-seed3",
            "cifar100-ir50-open-darbn-seed3",
            "cifar100-ir50-open-auxbn-seed3",
        ]
    );
    assert!(listed.lines().all(|l| l.ends_with("  pending")), "{listed}");

    // A folder holding a run with other settings is a conflict, never resumed or replaced.
    let other = root.join("erm-seed0");
    fs::create_dir_all(&other).unwrap();
    fs::write(
        other.join("config.json"),
        format!(
            "{{\"purenoise_run\":1,\"run_id\":\"ab\",\"program_version\":\"0\",\"args\":{}}}",
            train_args_json(&["--lr", "0.05"])
        ),
    )
    .unwrap();
    let listed = ok(sweep(&root, LIST, TWO).output().unwrap());
    assert!(
        listed.starts_with("   0  erm-seed0   conflict: ")
            && listed.contains("(--lr 0.1 here, 0.05 there)"),
        "{listed}"
    );

    for (extra, want) in [
        (
            vec!["--", "--out", "x"],
            "error: --out: cannot be given to a sweep",
        ),
        (
            vec!["--", "--method", "drs"],
            "error: the train flags of sweep cell erm-seed0: the argument '--method",
        ),
        (
            vec!["--seed", "1,1"],
            "error: sweep: cell erm-seed1 is listed twice",
        ),
        (
            vec!["--cell", "2"],
            "error: --cell: 2 is past the last cell: this sweep has 2 cells",
        ),
        (vec!["--jobs", "0"], "error: --jobs: must be at least 1"),
        (
            vec!["--jobs", "2", "--cell", "0"],
            "error: --jobs: runs several cells at once, --cell exactly one",
        ),
        (
            vec!["--adapters", "0,1"],
            "error: --adapters: spreads --jobs over adapters",
        ),
        (
            vec!["--init-from-cell", "method=drs@1"],
            "error: --init-from-cell: no cell of this sweep has --method drs (it lists erm,open)",
        ),
        (
            vec!["--init-from-cell", "bn=auxbn:best"],
            "error: --init-from-cell: --bn is not listed by this sweep",
        ),
        (
            vec!["--init-from-cell", "method=erm"],
            "error: --init-from-cell: method=erm would start each cell from its source's last \
             checkpoint",
        ),
        (
            vec!["--init-from-cell", "method=erm@2", "--", "--epochs", "2"],
            "error: --init-from-cell: @2: cell open-seed0 would continue from its source's \
             epoch 2, but its --epochs 2 ends before that",
        ),
    ] {
        let out = Command::new(BIN)
            .args(["sweep", "--root"])
            .arg(&root)
            .args(AXES)
            .args(&extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {stderr}");
        assert!(stderr.starts_with(want), "{extra:?}: {stderr}");
    }
    fs::remove_dir_all(&root).unwrap();
}

/// The saved flags of `purenoise train` with `flags` plus the tiny cell's.
fn train_args_json(flags: &[&str]) -> String {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: purenoise::train::args::TrainArgs,
    }
    let mut argv = vec!["train"];
    argv.extend(TINY);
    argv.extend(TWO);
    argv.extend(["--method", "erm", "--seed", "0"]);
    argv.extend(flags);
    serde_json::to_string(&Cli::parse_from(argv).args).unwrap()
}

#[test]
fn a_plan_sweep_runs_in_jobs_and_its_root_refuses_another_plan() {
    let root = tmpdir("plan");
    let plan = root.with_extension("toml");
    let write_plan = |methods: &str| {
        let text = format!(
            "method = [{methods}]\nseed = 0\npreset = \"quick\"\n\n[train]\nmodel = \"resnet-8\"\n\
             max-class-size = 5\nbatch-size = 4\neval-limit = 20\nno-download = true\n\
             epochs = 1\nmilestones = [0]\ndefer-epoch = 0\n"
        );
        fs::write(&plan, text).unwrap();
    };
    write_plan("\"erm\", \"open\"");
    let run = |extra: &[&str]| {
        let mut c = Command::new(BIN);
        data_common::untuned(&mut c);
        c.args(["sweep", "--root"])
            .arg(&root)
            .arg("--plan")
            .arg(&plan);
        c.args(extra).output().unwrap()
    };
    // The children of --jobs read the plan too.
    let all = ok(run(&["--jobs", "2"]));
    for (i, cell) in ["erm-seed0", "open-seed0"].iter().enumerate() {
        assert_eq!(
            all.matches(&format!("cell {i} {cell}: training")).count(),
            1,
            "{all}"
        );
        assert_eq!(epochs(&root.join(cell)), [0], "{cell}");
        let args = config_args(&root.join(cell));
        // The quick preset's evaluation size, the plan's batch size.
        assert_eq!(
            (args["eval_limit"].as_u64(), args["batch_size"].as_u64()),
            (Some(20), Some(4))
        );
    }
    assert!(
        all.ends_with("2 cell(s) completed by this process\n"),
        "{all}"
    );
    let copy = root.join(".sweep-plan.toml");
    assert!(fs::read_to_string(&copy)
        .unwrap()
        .contains("method = [\"erm\", \"open\"]"));
    let again = ok(run(&[]));
    assert!(
        again.contains("0 cell(s) completed by this process"),
        "{again}"
    );
    // Another plan on this root is refused, and changes nothing.
    write_plan("\"erm\", \"drs\"");
    let out = run(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: {}: {} holds the sweep of another plan (its copy is {}; they differ in method)",
            plan.display(),
            root.display(),
            copy.display()
        )),
        "{stderr}"
    );
    assert!(!root.join("drs-seed0").exists());
    fs::remove_dir_all(&root).unwrap();
    fs::remove_file(&plan).unwrap();
}
