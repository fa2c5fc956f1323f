//! Malformed input through the command line: a non-zero exit, a message naming the culprit, no
//! panic or backtrace, and no run folder written. Most cases fail before any data is read.

mod data_common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap::Parser;
use purenoise::train::args::TrainArgs;
use purenoise::train::checkpoint::{self, Checkpoint, NamedTensor};

fn purenoise(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_purenoise"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        // Never the user's tuning cache (these runs fail before tuning would start).
        .env(
            "PURENOISE_CACHE_DIR",
            std::env::temp_dir().join(format!("purenoise-bad-input-cache-{}", std::process::id())),
        )
        .output()
        .expect("the binary runs")
}

fn fails_with(args: &[&str], needles: &[&str]) {
    let out = purenoise(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{args:?}: `{needle}` not in:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("panicked") && !stderr.contains("stack backtrace"),
        "{args:?} panicked:\n{stderr}"
    );
}

/// `train` on real data with `extra` (plus resnet-8 and --max-class-size 5 unless `extra` sets
/// them); the run folder must not appear.
fn train_fails_with(dir: &Path, extra: &[&str], needles: &[&str]) {
    let out = dir.join("run");
    let data = data_common::real_data_dir();
    let mut args = vec![
        "train",
        "--data-dir",
        data.to_str().unwrap(),
        "--no-download",
        "--out",
        out.to_str().unwrap(),
    ];
    for (flag, default) in [("--model", "resnet-8"), ("--max-class-size", "5")] {
        if !extra.contains(&flag) && !extra.contains(&"--subset-indices") {
            args.extend([flag, default]);
        }
    }
    args.extend_from_slice(extra);
    fails_with(&args, needles);
    assert!(!out.exists(), "{extra:?} left a run folder");
}

#[test]
fn numeric_flags_at_zero_negative_or_huge_are_named() {
    let dir = data_common::temp_dir("bad-flags");
    let cases: &[(&[&str], &[&str])] = &[
        (&["--batch-size", "0"], &["--batch-size", "at least 1"]),
        (
            &["--batch-size", "100000000000"],
            &["--batch-size", "at most 4095"],
        ),
        (&["--batch-size", "-8"], &["--batch-size", "'-8'"]),
        (&["--lr", "-1"], &["--lr", "positive"]),
        (&["--lr", "0"], &["--lr", "positive"]),
        (&["--lr", "inf"], &["--lr", "positive"]),
        (&["--epochs", "0"], &["--epochs", "at least 1"]),
        (&["--epochs", "-3"], &["--epochs", "'-3'"]),
        (&["--imbalance", "0.5"], &["--imbalance", "≥ 1"]),
        (&["--imbalance", "NaN"], &["--imbalance", "≥ 1"]),
        (&["--delta", "1.5"], &["--delta", "[0, 1]"]),
        (&["--delta", "-0.1"], &["--delta", "[0, 1]"]),
        (&["--dropout", "1"], &["--dropout", "[0, 1)"]),
        (&["--momentum", "1"], &["--momentum", "momentum in [0, 1)"]),
        (
            &["--momentum", "-0.5"],
            &["--momentum", "momentum in [0, 1)"],
        ),
        (
            &["--weight-decay", "-1"],
            &["--weight-decay", "weight decay ≥ 0"],
        ),
        (&["--lr-decay", "0"], &["--lr-decay", "lr decay > 0"]),
        (&["--eval-every", "0"], &["--eval-every", "at least 1"]),
        (&["--eval-limit", "0"], &["--eval-limit", "at least 1"]),
        (
            &["--max-class-size", "0"],
            &["--max-class-size", "at least 1"],
        ),
        (&["--flip-p", "2"], &["--flip-p", "[0, 1]"]),
        (
            &["--crop-padding", "1000"],
            &["--crop-padding", "at most 32"],
        ),
        (&["--cutout", "1000"], &["--cutout", "at most 32"]),
        (&["--blur-kernel", "4"], &["--blur-kernel", "odd"]),
        (&["--norm-mean", "1,2"], &["--norm-mean", "3 values"]),
        (&["--seed", "-1"], &["--seed", "'-1'"]),
    ];
    for (extra, needles) in cases {
        train_fails_with(&dir, extra, needles);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_names_are_named() {
    let dir = data_common::temp_dir("bad-names");
    train_fails_with(&dir, &["--model", "vgg-16"], &["`vgg-16`", "unknown model"]);
    train_fails_with(&dir, &["--model", "resnet-9"], &["resnet-9"]);
    train_fails_with(&dir, &["--method", "smote"], &["'smote'", "--method"]);
    train_fails_with(&dir, &["--bn", "groupnorm"], &["'groupnorm'", "--bn"]);
    train_fails_with(
        &dir,
        &["--nan-policy", "ignore"],
        &["'ignore'", "--nan-policy"],
    );
    train_fails_with(&dir, &["--dataset", "mnist"], &["'mnist'", "--dataset"]);
    train_fails_with(
        &dir,
        &["--adapter", "no-such-gpu"],
        &["`no-such-gpu` matches no adapter"],
    );
    train_fails_with(
        &dir,
        &["--memory-limit", "0"],
        &["'0'", "--memory-limit", "at least one byte"],
    );
    train_fails_with(
        &dir,
        &["--memory-limit", "4 parsecs"],
        &["--memory-limit", "unknown unit `parsecs`"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A CIFAR-100 data folder with `train` fine labels whose train.bin is then altered by `edit`.
fn cifar100_with(root: &Path, edit: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let d = data_common::write_cifar100(root, &[0, 1, 2, 3, 4, 5], &[0, 1, 2, 3]);
    let path = d.join("train.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    edit(&mut bytes);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn cifar100_train_fails_with(dir: &Path, data: &Path, needles: &[&str]) {
    let out = dir.join("run");
    fails_with(
        &[
            "train",
            "--dataset",
            "cifar100",
            "--model",
            "resnet-8",
            "--data-dir",
            data.to_str().unwrap(),
            "--no-download",
            "--imbalance",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
        needles,
    );
    assert!(!out.exists(), "a bad dataset left a run folder");
}

#[test]
fn bad_dataset_files_are_named() {
    let dir = data_common::temp_dir("bad-data");
    let record = 3074;

    let truncated = dir.join("truncated");
    let file = cifar100_with(&truncated, |b| b.truncate(b.len() - 100));
    cifar100_train_fails_with(
        &dir,
        &truncated,
        &[file.to_str().unwrap(), "not a whole number", "truncated"],
    );

    let oversized = dir.join("oversized");
    let file = cifar100_with(&oversized, |b| b.extend([7; 50]));
    cifar100_train_fails_with(
        &dir,
        &oversized,
        &[file.to_str().unwrap(), "not a whole number"],
    );

    let label = dir.join("label");
    let file = cifar100_with(&label, |b| b[2 * record + 1] = 150);
    cifar100_train_fails_with(
        &dir,
        &label,
        &[
            file.to_str().unwrap(),
            "record 2",
            "label 150 is out of range",
        ],
    );

    let magic = dir.join("magic");
    std::fs::create_dir_all(&magic).unwrap();
    let archive = magic.join("cifar-100-binary.tar.gz");
    std::fs::write(&archive, b"PK\x03\x04 this is a zip, not a gzip").unwrap();
    cifar100_train_fails_with(
        &dir,
        &magic,
        &[archive.to_str().unwrap(), "not a readable .tar.gz"],
    );

    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    cifar100_train_fails_with(
        &dir,
        &empty,
        &[empty.to_str().unwrap(), "no cifar100 data here"],
    );

    // Subset files naming an image the training split lacks, or something that is no index.
    let indices = dir.join("indices.txt");
    std::fs::write(&indices, "0\n1\n999999\n").unwrap();
    let flag = ["--subset-indices", indices.to_str().unwrap()];
    let culprit = [
        indices.to_str().unwrap(),
        "line 3",
        "999999 is out of range",
    ];
    train_fails_with(&dir, &flag, &culprit);
    std::fs::write(&indices, "0\nabc\n").unwrap();
    let culprit = [indices.to_str().unwrap(), "line 2", "\"abc\""];
    train_fails_with(&dir, &flag, &culprit);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: TrainArgs,
}

#[test]
fn bad_checkpoints_and_run_folders_are_named_and_left_alone() {
    let dir = data_common::temp_dir("bad-ckpt");

    // A truncated checkpoint for eval.
    let good = dir.join("good.safetensors");
    checkpoint::save(
        &good,
        &Checkpoint {
            tensors: vec![NamedTensor {
                name: "conv1.weight".into(),
                shape: vec![16, 3, 3, 3],
                data: vec![0.5; 432],
            }],
            state: serde_json::json!({ "model": "resnet-8" }),
        },
    )
    .unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let torn = dir.join("torn.safetensors");
    std::fs::write(&torn, &bytes[..bytes.len() - 100]).unwrap();
    fails_with(
        &["eval", "--checkpoint", torn.to_str().unwrap()],
        &[torn.to_str().unwrap(), "truncated"],
    );
    // A checkpoint without a training configuration.
    fails_with(
        &["eval", "--checkpoint", good.to_str().unwrap()],
        &[good.to_str().unwrap(), "training configuration"],
    );

    // --init-from a checkpoint of another model.
    let data = data_common::real_data_dir();
    let out = dir.join("run");
    fails_with(
        &[
            "train",
            "--model",
            "wrn-10-1",
            "--data-dir",
            data.to_str().unwrap(),
            "--no-download",
            "--max-class-size",
            "5",
            "--init-from",
            good.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[
            good.to_str().unwrap(),
            "does not fit this model",
            "resnet-8",
        ],
    );
    assert!(!out.exists());

    // --resume with a config.json that lacks fields.
    let partial = dir.join("partial");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("config.json"), r#"{"model": "resnet-8"}"#).unwrap();
    fails_with(
        &["train", "--resume", partial.to_str().unwrap()],
        &[
            "config.json",
            "not a purenoise run configuration",
            "missing field",
        ],
    );

    // --resume with a valid configuration but a torn last checkpoint: named, nothing changed.
    let broken = dir.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    let args = Cli::try_parse_from([
        "train",
        "--model",
        "resnet-8",
        "--data-dir",
        data.to_str().unwrap(),
    ])
    .unwrap()
    .args;
    let config = serde_json::to_vec_pretty(&args).unwrap();
    std::fs::write(broken.join("config.json"), &config).unwrap();
    std::fs::write(broken.join("last.safetensors"), &bytes[..5]).unwrap();
    fails_with(
        &["train", "--resume", broken.to_str().unwrap()],
        &["last.safetensors", "too short for a header"],
    );
    assert_eq!(std::fs::read(broken.join("config.json")).unwrap(), config);
    assert_eq!(
        std::fs::read(broken.join("last.safetensors")).unwrap(),
        &bytes[..5]
    );
    assert_eq!(std::fs::read_dir(&broken).unwrap().count(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn impossible_depths_missing_folders_and_other_commands_are_named() {
    let dir = data_common::temp_dir("bad-other");
    let out = dir.join("run");
    let out = out.to_str().unwrap();
    fails_with(
        &["train", "--model", "wrn-27-10", "--out", out],
        &["6n + 4"],
    );
    fails_with(
        &[
            "train",
            "--data-dir",
            "/nonexistent/data",
            "--no-download",
            "--out",
            out,
        ],
        &["/nonexistent/data"],
    );
    fails_with(
        &["devices", "--adapter", "no-such-gpu"],
        &["`no-such-gpu` matches no adapter"],
    );
    fails_with(
        &["eval", "--checkpoint", "/nonexistent/last.safetensors"],
        &["/nonexistent/last.safetensors"],
    );
    assert!(
        !Path::new(out).exists(),
        "a failed start must not create the run folder"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
