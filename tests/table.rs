//! `purenoise table`: fabricated run folders (config.json written through `RunConfig`, metrics
//! files written directly; no training) grouped over seeds, with known means and deviations,
//! the published numbers, csv/json output, unfinished runs and bad folders.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use purenoise::report::table::{self, TableArgs};
use purenoise::train::args::TrainArgs;
use purenoise::train::lock::RunLock;
use purenoise::train::metrics::evaluate;
use purenoise::train::run_config::RunConfig;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_purenoise");
/// CIFAR-10-LT 100's training counts: 8 many-shot classes, 2 medium-shot, none few-shot.
const TRAIN: [usize; 10] = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50];

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: TrainArgs,
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("purenoise-table-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// A run folder: config.json from `flags`, `done` epoch lines whose evaluated top-1 peaks at
/// `best` in epoch 1 and ends at `right.iter().sum() / 100`; when all epochs are done, the
/// final evaluation (10 test images per class, `right[k]` of class k correct).
fn make_run(dir: &Path, flags: &[&str], done: usize, best: f64, right: [usize; 10]) {
    fs::create_dir_all(dir).unwrap();
    let args = Cli::parse_from(std::iter::once("train").chain(flags.iter().copied())).args;
    let epochs = args.epochs;
    fs::write(dir.join("config.json"), RunConfig::new(args).to_json()).unwrap();
    let (mut pred, mut labels) = (Vec::new(), Vec::new());
    for (k, &r) in right.iter().enumerate() {
        for i in 0..10 {
            labels.push(k as u32);
            pred.push(if i < r { k as u32 } else { (k as u32 + 1) % 10 });
        }
    }
    let names: Vec<String> = (0..10).map(|k| format!("class{k}")).collect();
    let report = evaluate(&pred, &labels, &TRAIN, &names).unwrap();
    let mut lines = String::new();
    for e in 0..done {
        let top1 = match e {
            _ if e + 1 == epochs => report.top1.to_string(),
            1 => best.to_string(),
            _ if e % 2 == 0 => "0.1".into(),
            _ => "null".into(),
        };
        lines += &format!(
            "{{\"epoch\":{e},\"loss\":1.5,\"lr\":0.1,\"train_acc\":0.4,\"test_top1\":{top1},\
             \"images_per_s\":900.0,\"seconds\":3.0,\"skipped_steps\":0}}\n"
        );
    }
    fs::write(dir.join("metrics.jsonl"), lines).unwrap();
    if done == epochs {
        report.write(dir).unwrap();
    }
}

/// Class k gets `many` of 10 right for the 8 many-shot classes, `medium` for the other two.
fn right(many: usize, medium: usize) -> [usize; 10] {
    let mut r = [many; 10];
    r[8] = medium;
    r[9] = medium;
    r
}

/// The sample standard deviation (n − 1).
fn sample_std(v: &[f64]) -> f64 {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

fn close(a: &Value, b: f64) {
    let a = a.as_f64().unwrap_or_else(|| panic!("{a} is not a number"));
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

/// A sweep root: ERM over three seeds, OPeN over two finished seeds and one unfinished, a
/// folder whose config is corrupt and one whose metrics are.
fn paper_root(name: &str) -> PathBuf {
    let root = tmpdir(name);
    let common = ["--model", "wrn-28-10", "--epochs", "200"];
    // ERM, final top-1 0.80, 0.82, 0.86 (many-shot 9 of 10 right, medium-shot 4, 5, 7).
    for (seed, (many, medium, best)) in [(9, 4, 0.85), (9, 5, 0.84), (9, 7, 0.90)]
        .into_iter()
        .enumerate()
    {
        let s = seed.to_string();
        let mut flags = common.to_vec();
        flags.extend(["--method", "erm", "--seed", &s, "--data-workers", "3"]);
        make_run(
            &root.join(format!("erm-{seed}")),
            &flags,
            200,
            best,
            right(many, medium),
        );
    }
    for (seed, many, medium) in [(0, 10, 3), (1, 9, 8)] {
        let s = seed.to_string();
        let mut flags = common.to_vec();
        flags.extend(["--method", "open", "--seed", &s]);
        make_run(
            &root.join(format!("open-{seed}")),
            &flags,
            200,
            0.5,
            right(many, medium),
        );
    }
    let mut flags = common.to_vec();
    flags.extend(["--method", "open", "--seed", "2"]);
    make_run(&root.join("open-2"), &flags, 50, 0.99, right(10, 10));
    // A torn last line (a kill mid-append) is not a corruption: the run is unfinished.
    let jsonl = root.join("open-2/metrics.jsonl");
    let mut text = fs::read_to_string(&jsonl).unwrap();
    text += "{\"epoch\":50,\"lo";
    fs::write(&jsonl, text).unwrap();

    make_run(&root.join("bad-config"), &common, 200, 0.5, right(5, 5));
    fs::write(
        root.join("bad-config/config.json"),
        "{\"purenoise_run\": 1, ",
    )
    .unwrap();
    make_run(&root.join("bad-metrics"), &common, 200, 0.5, right(5, 5));
    let jsonl = root.join("bad-metrics/metrics.jsonl");
    let text =
        fs::read_to_string(&jsonl)
            .unwrap()
            .replacen("\"epoch\":3,", "\"epoch\":\"three\",", 1);
    fs::write(&jsonl, text).unwrap();
    // Not a run: ignored without a word (a sweep root may hold other things).
    fs::create_dir_all(root.join("notes")).unwrap();
    root
}

fn args(dirs: &[&Path], csv: bool, json: bool) -> TableArgs {
    TableArgs {
        dirs: dirs.iter().map(|d| d.to_path_buf()).collect(),
        csv,
        json,
    }
}

#[test]
fn groups_over_seeds_with_sample_deviations_and_the_published_numbers() {
    let root = paper_root("paper");
    let (text, skipped) = table::run(&args(&[&root], false, true)).unwrap();
    let t: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(t["varying"], serde_json::json!(["method"]), "{text}");
    let rows = t["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{text}");

    let erm = &rows[0];
    assert_eq!(erm["settings"], serde_json::json!(["erm"]));
    assert_eq!(
        (erm["n"].as_u64(), &erm["seeds"]),
        (Some(3), &serde_json::json!([0, 1, 2]))
    );
    let finals = [80.0, 82.0, 86.0];
    close(&erm["final_top1"]["mean"], 248.0 / 3.0);
    close(&erm["final_top1"]["std"], sample_std(&finals));
    close(&erm["best_top1"]["mean"], (85.0 + 84.0 + 90.0) / 3.0);
    close(&erm["best_top1"]["std"], sample_std(&[85.0, 84.0, 90.0]));
    close(&erm["many"]["mean"], 90.0);
    close(&erm["many"]["std"], 0.0);
    close(&erm["medium"]["mean"], 160.0 / 3.0);
    close(&erm["medium"]["std"], sample_std(&[40.0, 50.0, 70.0]));
    // No class has fewer than 20 training images: no few-shot accuracy, not a made-up 0.
    assert_eq!(
        (erm["few"]["n"].as_u64(), &erm["few"]["mean"]),
        (Some(0), &Value::Null)
    );
    // ERM's numbers hold for any BN mode; the run used the default, darbn.
    let published = erm["published"].as_array().unwrap();
    assert_eq!(published.len(), 2, "{text}");
    assert_eq!(published[0]["source"], "paper");
    close(&published[0]["top1"], 79.6);
    close(&published[0]["difference"], 248.0 / 3.0 - 79.6);
    assert_eq!(published[1]["source"], "reproduction");
    close(&published[1]["difference"], 248.0 / 3.0 - 81.18);
    assert!(erm["unfinished"].as_array().unwrap().is_empty());

    let open = &rows[1];
    assert_eq!(
        (open["n"].as_u64(), &open["seeds"]),
        (Some(2), &serde_json::json!([0, 1]))
    );
    // Finals 0.86 and 0.88; best is the final, above every earlier epoch's 0.5.
    close(&open["final_top1"]["mean"], 87.0);
    close(&open["final_top1"]["std"], 2f64.sqrt());
    close(&open["best_top1"]["mean"], 87.0);
    let sources: Vec<(&str, f64)> = (open["published"].as_array().unwrap().iter())
        .map(|p| (p["source"].as_str().unwrap(), p["top1"].as_f64().unwrap()))
        .collect();
    assert_eq!(
        sources,
        [
            ("paper", 84.6),
            ("reproduction", 85.04),
            ("paper, BN ablation", 84.64)
        ]
    );
    let unfinished = open["unfinished"].as_array().unwrap();
    assert_eq!(unfinished.len(), 1, "{text}");
    assert_eq!(
        (
            unfinished[0]["seed"].as_u64(),
            unfinished[0]["epochs_done"].as_u64(),
            unfinished[0]["epochs"].as_u64(),
            unfinished[0]["running"].as_bool()
        ),
        (Some(2), Some(50), Some(200), Some(false))
    );

    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(
        skipped[0].contains("bad-config") && skipped[0].contains("config.json"),
        "{skipped:?}"
    );
    assert!(
        skipped[1].contains("bad-metrics/metrics.jsonl:4: not an epoch record"),
        "{skipped:?}"
    );

    let (md, _) = table::run(&args(&[&root], false, false)).unwrap();
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(
        lines[0],
        "All runs: model wrn-28-10, dataset cifar10, imbalance 100, bn darbn, epochs 200, \
         eval-limit -."
    );
    assert!(
        lines[2].starts_with("| method | n | seeds | final top-1 % |"),
        "{md}"
    );
    assert!(
        lines[2].ends_with("| unfinished (epochs done/total) |"),
        "{md}"
    );
    assert_eq!(
        lines[4],
        "| erm | 3 | 0,1,2 | 82.67 ± 3.06 | 86.33 ± 3.21 | 90.00 ± 0.00 | 53.33 ± 15.28 | — | \
         paper 79.6 (+3.07); reproduction 81.18 (+1.49) |  |",
        "{md}"
    );
    assert_eq!(
        lines[5],
        "| open | 2 | 0,1 | 87.00 ± 1.41 | 87.00 ± 1.41 | 95.00 ± 7.07 | 55.00 ± 35.36 | — | \
         paper 84.6 (+2.40); reproduction 85.04 (+1.96); paper, BN ablation 84.64 (+2.36) | \
         seed 2: 50/200 |",
        "{md}"
    );

    let (csv, _) = table::run(&args(&[&root], true, false)).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "method,n,seeds,final_top1_mean,final_top1_std,best_top1_mean,best_top1_std,many_mean,\
         many_std,medium_mean,medium_std,few_mean,few_std,published,unfinished"
    );
    assert_eq!(
        rows[1],
        "erm,3,0 1 2,82.6667,3.0551,86.3333,3.2146,90.0000,0.0000,53.3333,15.2753,,,\
         paper 79.6 (+3.07); reproduction 81.18 (+1.49),"
    );
    assert!(
        rows[2].starts_with("open,2,0 1,87.0000,1.4142,") && rows[2].ends_with(",seed 2: 50/200"),
        "{csv}"
    );
    assert_eq!(rows.len(), 3);

    // While a process holds the run's lock, the run shows as running.
    let lock = RunLock::acquire(&root.join("open-2")).unwrap();
    let (md, _) = table::run(&args(&[&root], false, false)).unwrap();
    assert!(md.contains("| seed 2: 50/200, running |"), "{md}");
    drop(lock);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn single_runs_and_what_groups_and_what_does_not() {
    let root = tmpdir("settings");
    // Differ only in bookkeeping (seed, folder, workers, download): one group.
    make_run(
        &root.join("a"),
        &["--epochs", "3", "--seed", "4", "--no-download"],
        3,
        0.5,
        right(3, 3),
    );
    make_run(
        &root.join("b"),
        &["--epochs", "3", "--seed", "5", "--data-workers", "1"],
        3,
        0.5,
        right(5, 5),
    );
    // A different --eval-limit measures on other images: its own group, a single run.
    make_run(
        &root.join("c"),
        &["--epochs", "3", "--eval-limit", "100"],
        3,
        0.5,
        right(7, 7),
    );
    // A model the paper did not publish for: no published column at all.
    let (md, skipped) = table::run(&args(&[&root], false, false)).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(
        lines[2],
        "| eval-limit | n | seeds | final top-1 % | best top-1 % | many % | medium % | few % |"
    );
    assert_eq!(
        lines[4],
        "| 100 | 1 | 0 | 70.00 ± — | 70.00 ± — | 70.00 ± — | 70.00 ± — | — |"
    );
    assert!(
        lines[5].starts_with("| - | 2 | 4,5 | 40.00 ± 14.14 |"),
        "{md}"
    );
    // Each run folder may also be named on its own, in any mix with roots.
    let (json, _) = table::run(&args(&[&root.join("a"), &root.join("c")], false, true)).unwrap();
    let t: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(t["rows"].as_array().unwrap().len(), 2);
    // A run named twice, on its own and through its root, counts once.
    let (json, _) = table::run(&args(&[&root.join("a"), &root], false, true)).unwrap();
    let t: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(t["rows"][1]["n"].as_u64(), Some(2), "{json}");
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn runs_started_from_each_seeds_checkpoint_group_together() {
    let root = tmpdir("init-from");
    for seed in ["0", "1"] {
        let erm = root.join(format!("erm-{seed}"));
        make_run(
            &erm,
            &[
                "--epochs", "3", "--method", "erm", "--lr", "0.05", "--seed", seed,
            ],
            3,
            0.5,
            right(4, 4),
        );
        let from = erm.join("last.safetensors");
        make_run(
            &root.join(format!("open-{seed}")),
            &[
                "--epochs",
                "3",
                "--seed",
                seed,
                "--init-from",
                from.to_str().unwrap(),
            ],
            3,
            0.5,
            right(6, 6),
        );
    }
    // A checkpoint outside any run folder is known by its path.
    make_run(
        &root.join("open-x"),
        &["--epochs", "3", "--init-from", "/nowhere/model.safetensors"],
        3,
        0.5,
        right(8, 8),
    );
    let (json, skipped) = table::run(&args(&[&root], false, true)).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    let t: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        t["varying"],
        serde_json::json!(["method", "init-from", "lr"]),
        "{json}"
    );
    let rows: Vec<(String, u64)> = (t["rows"].as_array().unwrap().iter())
        .map(|r| (r["settings"].to_string(), r["n"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        rows,
        [
            (r#"["erm","-","0.05"]"#.to_string(), 2),
            (
                r#"["open","/nowhere/model.safetensors","0.1"]"#.to_string(),
                1
            ),
            (
                r#"["open","last.safetensors of a run with lr 0.05, method erm","0.1"]"#
                    .to_string(),
                2
            ),
        ]
    );
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_run_continued_from_a_checkpoint_reads_from_its_start_epoch() {
    let root = tmpdir("continued");
    let erm = root.join("erm");
    make_run(&erm, &["--epochs", "2"], 2, 0.5, right(4, 4));
    let from = erm.join("last.safetensors");
    let open = root.join("open");
    let plain = root.join("plain");
    make_run(
        &open,
        &["--epochs", "4", "--init-from", from.to_str().unwrap()],
        4,
        0.5,
        right(6, 6),
    );
    make_run(&plain, &["--epochs", "4"], 4, 0.5, right(6, 6));
    // Both keep epochs 2 and 3 only, as a run continuing at epoch 2 writes them.
    for dir in [&open, &plain] {
        let jsonl = dir.join("metrics.jsonl");
        let text = fs::read_to_string(&jsonl).unwrap();
        let kept: String = text.split_inclusive('\n').skip(2).collect();
        fs::write(&jsonl, kept).unwrap();
    }
    let run = table::read_run(&open).unwrap();
    assert_eq!((run.epochs_done, run.epochs), (4, 4));
    assert!(run.finished());
    close(&serde_json::json!(run.final_top1.unwrap()), 0.6);
    // Without --init-from a run starts at epoch 0: a gap is a corruption.
    let err = table::read_run(&plain).unwrap_err();
    assert!(
        err.ends_with(
            "metrics.jsonl:1: epoch 2 where epoch 0 was expected (records must run 0, \
             1, 2, …, or from the start epoch of an --init-from run)"
        ),
        "{err}"
    );
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn the_command_prints_the_table_and_names_what_it_skipped() {
    let root = paper_root("cli");
    let out = Command::new(BIN)
        .args(["table", "--csv"])
        .arg(&root)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("method,n,seeds,"), "{stdout}");
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(
        stderr.contains("skipped ") && stderr.contains("bad-config"),
        "{stderr}"
    );
    assert!(stderr.contains("bad-metrics"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let empty = tmpdir("cli-empty");
    let out = Command::new(BIN).arg("table").arg(&empty).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: no readable run folders in ")
            && stderr.contains("neither a run folder"),
        "{stderr}"
    );
    fs::remove_dir_all(&root).unwrap();
    fs::remove_dir_all(&empty).unwrap();
}
