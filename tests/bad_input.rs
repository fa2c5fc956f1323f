//! Malformed input through the command line: a non-zero exit, a message naming the culprit, no
//! panic or backtrace, and no run folder written. Most cases fail before any data is read.

mod data_common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap::Parser;
use purenoise::train::args::TrainArgs;
use purenoise::train::checkpoint::{self, Checkpoint, NamedTensor};

fn purenoise(args: &[&str]) -> Output {
    data_common::untuned(Command::new(env!("CARGO_BIN_EXE_purenoise")).args(args))
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
        (&["--epochs", "0"], &["--epochs", "1 to 1000000"]),
        (&["--epochs", "2000000"], &["--epochs", "1 to 1000000"]),
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
        (
            &["--lr-decay", "nan"],
            &["--lr-decay", "finite lr decay > 0"],
        ),
        (
            &["--weight-decay", "inf"],
            &["--weight-decay", "finite weight decay ≥ 0"],
        ),
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
        (&["--norm-mean", "nan,0,0"], &["--norm-mean", "finite"]),
        (&["--norm-std", "0.2", "0.2"], &["--norm-std", "3 values"]),
        (
            &["--blur-sigma", "0.1", "1", "2"],
            &["--blur-sigma", "2 values"],
        ),
        // Both values are milestones (the space form), and the order is checked.
        (
            &["--milestones", "180", "160", "--epochs", "200"],
            &["--milestones", "180 is followed by 160"],
        ),
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
        &["eval", torn.to_str().unwrap()],
        &[torn.to_str().unwrap(), "truncated"],
    );
    // A checkpoint without a training configuration.
    fails_with(
        &["eval", good.to_str().unwrap()],
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
    let args = resnet8_args(&data);
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
        &["eval", "/nonexistent/last.safetensors"],
        &["/nonexistent/last.safetensors"],
    );
    assert!(
        !Path::new(out).exists(),
        "a failed start must not create the run folder"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `purenoise args…` that must end within `secs` (a blocked open or read would not): killed
/// and failed otherwise. Arguments are OS strings, so paths need not be UTF-8.
fn purenoise_within(secs: u64, args: &[&std::ffi::OsStr]) -> Output {
    use std::process::Stdio;
    let mut child = data_common::untuned(Command::new(env!("CARGO_BIN_EXE_purenoise")).args(args))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{args:?} did not end within {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

/// Checks a refusal: non-zero exit, every needle in stderr, no panic.
fn refused(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "succeeded:\n{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "`{needle}` not in:\n{stderr}");
    }
    assert!(!stderr.contains("panicked"), "panicked:\n{stderr}");
}

fn succeeded(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && !stderr.contains("panicked"),
        "failed:\n{stderr}"
    );
    stderr
}

/// The flags of a ResNet-8 run on `data`, as a run folder's config.json records them.
fn resnet8_args(data: &Path) -> TrainArgs {
    Cli::try_parse_from([
        "train",
        "--model",
        "resnet-8",
        "--data-dir",
        data.to_str().unwrap(),
    ])
    .unwrap()
    .args
}

/// A run folder with a configuration and small `last` (epoch 4) and `best` (epoch 3)
/// checkpoints; returns their bytes.
fn fake_run(run: &Path, data: &Path) -> (Vec<u8>, Vec<u8>) {
    std::fs::create_dir_all(run).unwrap();
    let args = resnet8_args(data);
    std::fs::write(
        run.join("config.json"),
        serde_json::to_vec_pretty(&args).unwrap(),
    )
    .unwrap();
    let mut saved = Vec::new();
    for (name, epoch) in [("last.safetensors", 4), ("best.safetensors", 3)] {
        let path = run.join(name);
        checkpoint::save(
            &path,
            &Checkpoint {
                tensors: vec![NamedTensor {
                    name: "conv1.weight".into(),
                    shape: vec![16, 3, 3, 3],
                    data: (0..432).map(|i| i as f32).collect(),
                }],
                state: serde_json::json!({ "model": "resnet-8", "position": { "epoch": epoch } }),
            },
        )
        .unwrap();
        saved.push(std::fs::read(&path).unwrap());
    }
    (saved.remove(0), saved.remove(0))
}

#[test]
fn corrupted_checkpoints_are_refused_by_name_pointing_to_the_other_one() {
    let dir = data_common::temp_dir("corrupt-ckpt");
    let data = data_common::real_data_dir();
    // (`run` is where train_fails_with's runs would go.)
    let run = dir.join("old-run");
    let (last_bytes, best_bytes) = fake_run(&run, &data);
    let (last, best) = (run.join("last.safetensors"), run.join("best.safetensors"));

    // A flipped bit in last's tensor data: resume refuses it and says how to use best.
    let mut bad_last = last_bytes.clone();
    let i = bad_last.len() - 7;
    bad_last[i] ^= 0x08;
    std::fs::write(&last, &bad_last).unwrap();
    fails_with(
        &["train", "--resume", run.to_str().unwrap()],
        &[
            &format!("checkpoint {} is corrupted", last.display()),
            "checksum of its tensor data",
            &format!("{} (epoch 3) is intact", best.display()),
            "copy best.safetensors to last.safetensors and resume",
        ],
    );
    assert_eq!(std::fs::read(&last).unwrap(), bad_last, "left as it was");
    assert_eq!(std::fs::read(&best).unwrap(), best_bytes);

    // A changed digit in best's training state, last intact: eval refuses, points to last.
    std::fs::write(&last, &last_bytes).unwrap();
    let text = String::from_utf8_lossy(&best_bytes).into_owned();
    let at = text.find("\\\"epoch\\\":3").unwrap() + "\\\"epoch\\\":".len();
    let mut bad_best = best_bytes.clone();
    bad_best[at] = b'9';
    std::fs::write(&best, &bad_best).unwrap();
    fails_with(
        &["eval", best.to_str().unwrap()],
        &[
            &format!("checkpoint {} is corrupted", best.display()),
            "checksum of its training state",
            &format!("{} (epoch 4) is intact", last.display()),
        ],
    );

    // Both damaged, through --init-from: refused before any run folder is made.
    std::fs::write(&last, &bad_last).unwrap();
    train_fails_with(
        &dir,
        &["--init-from", last.to_str().unwrap()],
        &[
            &format!("checkpoint {} is corrupted", last.display()),
            &format!("{} cannot be used either", best.display()),
        ],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn fifos_as_checkpoint_data_or_index_file_are_refused_without_blocking() {
    let dir = data_common::temp_dir("fifo-cli");
    let fifo = dir.join("pipe");
    data_common::mkfifo(&fifo);
    let out = purenoise_within(60, &[os("eval"), fifo.as_os_str()]);
    refused(&out, &[fifo.to_str().unwrap(), "named pipe (FIFO)"]);

    // A data file: the first batch of an extracted CIFAR-10 folder.
    let batches = dir.join("data").join("cifar-10-batches-bin");
    std::fs::create_dir_all(&batches).unwrap();
    data_common::mkfifo(&batches.join("data_batch_1.bin"));
    let data_dir = dir.join("data");
    let out = purenoise_within(
        60,
        &[
            os("dataset"),
            os("stats"),
            os("--data-dir"),
            data_dir.as_os_str(),
        ],
    );
    refused(&out, &["data_batch_1.bin", "named pipe (FIFO)"]);

    // An index file, read after the real data.
    let real = data_common::real_data_dir();
    let out = purenoise_within(
        120,
        &[
            os("dataset"),
            os("stats"),
            os("--data-dir"),
            real.as_os_str(),
            os("--subset-indices"),
            fifo.as_os_str(),
        ],
    );
    refused(&out, &[fifo.to_str().unwrap(), "named pipe (FIFO)"]);

    // A folder to --overwrite whose config.json is a FIFO: not read, not deleted.
    let folder = dir.join("folder");
    std::fs::create_dir_all(&folder).unwrap();
    data_common::mkfifo(&folder.join("config.json"));
    let out = purenoise_within(
        120,
        &[
            os("train"),
            os("--model"),
            os("resnet-8"),
            os("--data-dir"),
            real.as_os_str(),
            os("--no-download"),
            os("--max-class-size"),
            os("5"),
            os("--out"),
            folder.as_os_str(),
            os("--overwrite"),
        ],
    );
    refused(&out, &["config.json", "named pipe (FIFO)"]);
    assert_eq!(data_common::entries(&folder), ["config.json"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `bytes` (a purenoise checkpoint) as an older purenoise wrote it: without the checksums.
fn without_checksums(bytes: &[u8]) -> Vec<u8> {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    let mut meta = meta.metadata().clone().unwrap();
    meta.remove(checkpoint::TENSORS_CHECKSUM_KEY).unwrap();
    meta.remove(checkpoint::STATE_CHECKSUM_KEY).unwrap();
    safetensors::serialize(st.tensors(), Some(meta)).unwrap()
}

#[cfg(unix)]
#[test]
fn an_older_checkpoint_loads_with_a_notice_and_non_utf8_paths_work_or_are_refused() {
    use std::os::unix::ffi::OsStrExt;
    let dir = data_common::temp_dir("odd-paths");
    let data = data_common::real_data_dir();
    // A folder whose name is not UTF-8 (Linux allows any byte but '/' and NUL).
    let odd = dir.join(std::ffi::OsStr::from_bytes(b"odd-\xff-name"));
    std::fs::create_dir_all(&odd).unwrap();
    let archive = data.join("cifar-10-binary.tar.gz");
    std::os::unix::fs::symlink(&archive, odd.join("cifar-10-binary.tar.gz")).unwrap();

    // Recorded paths cannot be written to JSON: refused by flag, nothing created.
    let (new_run, plain_run) = (odd.join("run"), dir.join("plain-run"));
    for (flag, path) in [
        ("--out", new_run.as_os_str()),
        ("--data-dir", odd.as_os_str()),
    ] {
        let mut args = vec![
            os("train"),
            os("--model"),
            os("resnet-8"),
            os("--max-class-size"),
            os("5"),
            os("--no-download"),
        ];
        if flag == "--out" {
            args.extend([os("--data-dir"), data.as_os_str()]);
        } else {
            args.extend([os("--out"), plain_run.as_os_str()]);
        }
        args.extend([os(flag), path]);
        refused(
            &purenoise_within(120, &args),
            &[flag, "is not valid UTF-8", "odd-\u{fffd}-name"],
        );
        assert!(!new_run.exists() && !plain_run.exists());
    }

    // A data folder and an index file under it: read and written.
    let indices = odd.join("indices.txt");
    succeeded(&purenoise_within(
        120,
        &[
            os("dataset"),
            os("stats"),
            os("--data-dir"),
            odd.as_os_str(),
            os("--imbalance"),
            os("100"),
            os("--max-class-size"),
            os("5"),
            os("--indices"),
            indices.as_os_str(),
        ],
    ));
    let written = std::fs::read_to_string(&indices).unwrap();
    assert!(
        written.lines().count() >= 5 && written.lines().all(|l| l.parse::<usize>().is_ok()),
        "{written}"
    );

    // A real checkpoint: one training step of a small model.
    let run = dir.join("run");
    let r = run.to_str().unwrap();
    succeeded(&purenoise_within(
        300,
        &[
            "train",
            "--model",
            "resnet-8",
            "--data-dir",
            data.to_str().unwrap(),
            "--no-download",
            "--max-class-size",
            "5",
            "--batch-size",
            "8",
            "--eval-limit",
            "10",
            "--max-steps",
            "1",
            "--out",
            r,
        ]
        .map(os),
    ));
    // As an older purenoise wrote it, in the oddly named folder: it loads with a notice.
    let old = odd.join("old.safetensors");
    let bytes = std::fs::read(run.join("last.safetensors")).unwrap();
    std::fs::write(&old, without_checksums(&bytes)).unwrap();
    let eval_out = odd.join("eval");
    let out = purenoise_within(
        300,
        &[
            os("eval"),
            old.as_os_str(),
            os("--eval-limit"),
            os("10"),
            os("--out"),
            eval_out.as_os_str(),
        ],
    );
    let stderr = succeeded(&out);
    assert!(
        stderr.contains("old.safetensors has no checksums (an older purenoise wrote it)"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("top-1 accuracy"));
    assert!(eval_out.join("eval-old.json").is_file());
    // eval's own limit is checked by name too.
    let out = purenoise_within(
        300,
        &[
            os("eval"),
            old.as_os_str(),
            os("--eval-limit"),
            os("0"),
            os("--out"),
            eval_out.as_os_str(),
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--eval-limit") && stderr.contains("at least 1"),
        "{stderr}"
    );

    // The run folder under an odd name resumes and plots.
    let moved = odd.join("moved-run");
    std::fs::rename(&run, &moved).unwrap();
    let stderr = succeeded(&purenoise_within(
        300,
        &[
            os("train"),
            os("--resume"),
            moved.as_os_str(),
            os("--max-steps"),
            os("1"),
        ],
    ));
    assert!(stderr.contains("resuming"), "{stderr}");
    assert!(!stderr.contains("no checksums"), "{stderr}");
    std::fs::write(
        moved.join("metrics.jsonl"),
        "{\"epoch\": 0, \"loss\": 2.2, \"test_top1\": 0.1}\n",
    )
    .unwrap();
    succeeded(&purenoise_within(120, &[os("plot"), moved.as_os_str()]));
    assert!(moved.join("loss.png").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--milestones 160 180 --epochs 200` parses in the binary (the space form ends at the next
/// flag), and through a sweep's `--` passthrough too.
#[test]
fn list_flags_take_spaces_through_the_binary_and_the_sweep_passthrough() {
    // Fails only at the adapter, after every flag was parsed.
    fails_with(
        &[
            "train",
            "--milestones",
            "160",
            "180",
            "--epochs",
            "200",
            "--adapter",
            "no-such-gpu",
        ],
        &["--adapter `no-such-gpu` matches no adapter"],
    );
    let root = data_common::temp_dir("list-flags-sweep");
    let sweep = |milestones: &[&str]| {
        let mut args = vec!["sweep", "--root", root.to_str().unwrap(), "--list", "--"];
        args.push("--milestones");
        args.extend_from_slice(milestones);
        args.extend(["--epochs", "200"]);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    for milestones in [&["160", "180"][..], &["160,180"]] {
        let args = sweep(milestones);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = purenoise(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("pending"));
    }
    let args = sweep(&["180", "160"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    fails_with(&args, &["--milestones", "180 is followed by 160"]);
    let _ = std::fs::remove_dir_all(root);
}
