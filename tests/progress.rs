//! What the real binary says while it works when stderr is not a terminal (a log file, CI): a
//! timestamped progress line every `--log-interval` batches with the time left in the whole run,
//! the run's expected duration, progress lines of `eval` and `bench`, and what a run records of
//! itself (test loss and many/medium/few accuracy per evaluated epoch; version, adapter and
//! resolved folders in config.json). Real CIFAR-10 from `PURENOISE_DATA_DIR`, resnet-8 on 24
//! images (3 batches per epoch).

mod data_common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_purenoise");

/// Runs the binary with stdout and stderr piped (so neither is a terminal).
fn output<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    let mut c = Command::new(BIN);
    data_common::untuned(c.args(args));
    let out = c.output().expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `2026-11-30T13:45:02Z`.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// One in-epoch progress line: (epoch, batch) as printed (epochs from 0, as everywhere), its loss and lr.
#[derive(Debug)]
struct StepLine {
    epoch: usize,
    batch: usize,
    loss: f64,
    lr: f64,
}

/// The in-epoch progress lines of a log, each checked for its timestamp, rate and ETA.
fn step_lines(log: &str, epochs: usize, per_epoch: usize) -> Vec<StepLine> {
    let mut found = Vec::new();
    for line in log.lines() {
        let Some((stamp, rest)) = line.split_once(' ') else {
            continue;
        };
        let Some(rest) = rest.strip_prefix("epoch ") else {
            continue;
        };
        if !rest.contains(" batch ") {
            continue;
        }
        assert!(is_timestamp(stamp), "timestamp `{stamp}` in `{line}`");
        // epoch E/N batch B/M: loss L, lr R, X images/s, run ETA T
        let (head, tail) = rest.split_once(": ").expect(line);
        let (e, b) = head.split_once(" batch ").expect(line);
        let fraction = |s: &str, total: usize| {
            let (n, d) = s.split_once('/').expect(line);
            assert_eq!(d.parse::<usize>().unwrap(), total, "{line}");
            n.parse::<usize>().unwrap()
        };
        let fields: Vec<&str> = tail.split(", ").collect();
        assert_eq!(fields.len(), 4, "{line}");
        let number = |field: &str, prefix: &str| -> f64 {
            field
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("`{prefix}` in `{line}`"))
                .parse()
                .unwrap()
        };
        let rate: f64 = fields[2]
            .strip_suffix(" images/s")
            .expect(line)
            .parse()
            .unwrap();
        assert!(rate > 0.0, "{line}");
        let eta = fields[3].strip_prefix("run ETA ").expect(line);
        assert!(
            eta.ends_with(" s") || eta.ends_with(" min"),
            "a tiny run's ETA is seconds or minutes: {line}"
        );
        found.push(StepLine {
            // `epoch E/L`: L is the last epoch's number, epochs - 1.
            epoch: fraction(e, epochs - 1),
            batch: fraction(b, per_epoch),
            loss: number(fields[0], "loss "),
            lr: number(fields[1], "lr "),
        });
    }
    found
}

fn positions(lines: &[StepLine]) -> Vec<(usize, usize)> {
    lines.iter().map(|l| (l.epoch, l.batch)).collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn metrics_lines(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn train(indices: &Path, out: &Path, extra: &[&str]) -> Output {
    output(&data_common::tiny_train_flags(
        indices,
        out,
        extra,
        &[("--method", "erm"), ("--epochs", "2")],
    ))
}

#[test]
fn a_run_without_a_terminal_logs_each_interval_with_the_time_left_and_records_itself() {
    let (dir, indices) = data_common::tiny_subset("progress-train");
    let out = dir.join("run");
    let log = stderr(&train(&indices, &out, &[]));

    // The default: about four lines per epoch, so every batch of a 3-batch epoch.
    let lines = step_lines(&log, 2, 3);
    assert_eq!(
        positions(&lines),
        [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3)],
        "{log}"
    );
    for l in &lines {
        assert!(l.loss.is_finite() && l.loss > 0.0, "{l:?}");
        assert_eq!(l.lr, 0.1, "{l:?}");
    }
    // The mean loss of each epoch's last line is the epoch's loss in metrics.jsonl.
    let metrics = metrics_lines(&out);
    assert_eq!(metrics.len(), 2);
    for (m, l) in metrics.iter().zip([&lines[2], &lines[5]]) {
        let loss = m["loss"].as_f64().unwrap();
        assert!((loss - l.loss).abs() < 1e-4, "{m} vs {l:?}");
    }
    let estimate = log
        .lines()
        .filter(|l| l.contains(" the run should end in about "))
        .collect::<Vec<_>>();
    assert_eq!(estimate.len(), 1, "{log}");
    assert!(
        is_timestamp(estimate[0].split(' ').next().unwrap())
            && estimate[0].contains("s per step of 8 images on ")
            && !estimate[0].contains("--preset"),
        "{log}"
    );
    // Each epoch's closing line has its timestamp too, and the first the run's ETA.
    let closing: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" epoch 0/1: {") || l.contains(" epoch 1/1: {"))
        .collect();
    assert_eq!(closing.len(), 2, "{log}");
    assert!(closing.iter().all(|l| is_timestamp(&l[..20])), "{log}");
    assert!(closing[0].contains("(run ETA ") && !closing[1].contains("ETA"));

    // Test loss and many/medium/few accuracy per evaluated epoch; the last epoch's equal the
    // final report's (the same model on the same images). 8 training images per class: all
    // three classes are few-shot, so many and medium have no test samples to measure.
    let report = read_json(&out.join("metrics.json"));
    let last = &metrics[1];
    for m in &metrics {
        let loss = m["test_loss"].as_f64().unwrap();
        assert!(loss.is_finite() && loss > 0.0, "{m}");
        assert!(
            m["test_many"].is_null() && m["test_medium"].is_null(),
            "{m}"
        );
        assert!(
            (0.0..=1.0).contains(&m["test_few"].as_f64().unwrap()),
            "{m}"
        );
    }
    assert_eq!(last["test_top1"], report["top1"]);
    assert_eq!(last["test_few"], report["few"]);
    let report_loss = report["loss"].as_f64().unwrap();
    assert!((last["test_loss"].as_f64().unwrap() - report_loss).abs() < 1e-9);

    // config.json: version, commit (when built from a checkout), adapter, resolved folders.
    let config = read_json(&out.join("config.json"));
    assert_eq!(config["program_version"], env!("CARGO_PKG_VERSION"));
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8(o.stdout).unwrap().trim().to_string());
    match head {
        Some(commit) => assert_eq!(config["git_commit"], commit.as_str(), "{config}"),
        None => assert!(config.get("git_commit").is_none(), "{config}"),
    }
    let started = &config["started_on"];
    assert!(
        started["adapter"].as_str().unwrap().contains(" on "),
        "{config}"
    );
    let data_dir = std::path::absolute(data_common::real_data_dir()).unwrap();
    assert_eq!(
        PathBuf::from(started["data_dir"].as_str().unwrap()),
        data_dir
    );
    assert_eq!(
        PathBuf::from(started["run_dir"].as_str().unwrap()),
        std::path::absolute(&out).unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn log_interval_sets_the_lines_and_may_change_on_resume() {
    let (dir, indices) = data_common::tiny_subset("progress-interval");
    let out = dir.join("run");
    // Stops after 4 steps: the first epoch's 3 and one of the second.
    let log = stderr(&train(
        &indices,
        &out,
        &["--log-interval", "2", "--max-steps", "4"],
    ));
    assert_eq!(positions(&step_lines(&log, 2, 3)), [(0, 2)], "{log}");
    // The new config.json fields are no part of the run's identity: resume accepts the run, and
    // --log-interval, not a setting of the run, may be given.
    let out_str = out.to_str().unwrap();
    let log = stderr(&output(&[
        "train",
        "--resume",
        out_str,
        "--log-interval",
        "1",
    ]));
    assert_eq!(
        positions(&step_lines(&log, 2, 3)),
        [(1, 2), (1, 3)],
        "{log}"
    );
    let config = read_json(&out.join("config.json"));
    assert!(config["args"].get("log_interval").is_none(), "{config}");
    assert_eq!(metrics_lines(&out).len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn eval_and_bench_show_progress_lines_on_stderr_and_keep_stdout_clean() {
    let (dir, indices) = data_common::tiny_subset("progress-eval");
    let out = dir.join("run");
    train(&indices, &out, &["--epochs", "1"]);
    let checkpoint = out.join("last.safetensors");
    let eval = output(&["eval", checkpoint.to_str().unwrap(), "--eval-limit", "16"]);
    let log = stderr(&eval);
    let what = format!("eval {}: ", checkpoint.display());
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(&what)).collect();
    // Batches of 8: a line at each, then the closing line.
    assert_eq!(lines.len(), 3, "{log}");
    assert!(lines.iter().all(|l| is_timestamp(&l[..20])), "{log}");
    assert!(lines[0].contains(": 8/16 images, ") && lines[0].contains(" images/s, ETA "));
    assert!(lines[1].contains(": 16/16 images, "), "{log}");
    assert!(lines[2].contains(": 16 images in "), "{log}");
    assert!(!String::from_utf8_lossy(&eval.stdout).contains(&what));

    let bench = output(&[
        "bench", "train", "--model", "resnet-8", "--steps", "1", "--json",
    ]);
    let log = stderr(&bench);
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" bench train resnet-8 at batch "))
        .collect();
    // 2 warm-up steps, 1 timed, 1 profiled: a line at each, then the closing line.
    assert_eq!(lines.len(), 5, "{log}");
    for (i, l) in lines[..4].iter().enumerate() {
        assert!(is_timestamp(&l[..20]), "{l}");
        assert!(l.contains(&format!(": {}/4 steps, ", i + 1)), "{l}");
    }
    assert!(lines[4].contains(": 4 steps in "), "{log}");
    // stdout is the JSON record alone.
    let record: Value = serde_json::from_slice(&bench.stdout).unwrap();
    assert_eq!(record["model"], "resnet-8");
    let _ = std::fs::remove_dir_all(&dir);
}
