//! Faults during training, through the real binary on real CIFAR-10 (`PURENOISE_DATA_DIR`):
//! SIGKILL at random moments then `--resume` reproduces an uninterrupted run, SIGTERM exits 143
//! (SIGINT 130) after a checkpoint, with a way to go on, and resumes the same way, `--nan-policy` stops naming the layer or skips the step without a trace,
//! and a run folder that cannot be written or lacks space is refused with the path; running out
//! of GPU memory mid-run names the step and the numbers and leaves the checkpoint to resume from.

mod data_common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use purenoise::train::{checkpoint, files, trainer};

use data_common::timeless_metrics;

const BIN: &str = env!("CARGO_BIN_EXE_purenoise");

fn setup(name: &str) -> (PathBuf, PathBuf) {
    data_common::tiny_subset(&format!("faults-{name}"))
}

/// Three epochs at lr 0.05 and ERM unless `extra` says otherwise.
fn train_flags(indices: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    data_common::tiny_train_flags(
        indices,
        out,
        extra,
        &[("--method", "erm"), ("--epochs", "3"), ("--lr", "0.05")],
    )
}

fn purenoise(args: &[String]) -> Command {
    let mut c = Command::new(BIN);
    data_common::untuned(c.args(args));
    c
}

fn output(args: &[String]) -> Output {
    purenoise(args).output().expect("the binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn resume(out: &Path) -> Output {
    output(&["train".into(), "--resume".into(), out.display().to_string()])
}

fn assert_same_run(reference: &Path, dir: &Path) {
    assert_eq!(
        timeless_metrics(dir),
        timeless_metrics(reference),
        "{} differs from the uninterrupted run",
        dir.display()
    );
    let a = checkpoint::load(&reference.join("last.safetensors")).unwrap();
    let b = checkpoint::load(&dir.join("last.safetensors")).unwrap();
    assert_eq!(a.tensors, b.tensors, "final tensors of {}", dir.display());
    assert!(dir.join("report.txt").exists());
    let leftovers: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".purenoise-tmp-") || n == files::LOCK_FILE)
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary or lock files left: {leftovers:?}"
    );
}

fn assert_clean(out: &Output, what: &str) {
    let err = stderr(out);
    assert!(
        !err.contains("panicked") && !err.contains("stack backtrace"),
        "{what} panicked:\n{err}"
    );
}

/// Resumes; when the kill came before config.json or the first `last` was written, does what
/// the refusal advises: continue from `best`, or start over.
fn finish(flags: &[String], out: &Path) {
    let r = resume(out);
    assert_clean(&r, "resume");
    if r.status.success() {
        return;
    }
    let err = stderr(&r);
    if err.contains("--resume-from best") {
        let r = output(&[
            "train".into(),
            "--resume".into(),
            out.display().to_string(),
            "--resume-from".into(),
            "best".into(),
        ]);
        assert!(
            r.status.success(),
            "resume from best failed:\n{}",
            stderr(&r)
        );
        return;
    }
    assert!(
        (err.contains("config.json is missing") || err.contains("last.safetensors is missing"))
            && err.contains("--overwrite"),
        "resume failed with an unexpected message:\n{err}"
    );
    let mut again = flags.to_vec();
    again.push("--overwrite".into());
    let r = output(&again);
    assert_clean(&r, "restart");
    assert!(r.status.success(), "restart failed:\n{}", stderr(&r));
}

#[test]
fn killed_or_terminated_anywhere_then_resumed_equals_an_uninterrupted_run() {
    let (dir, indices) = setup("kill");
    let reference = dir.join("reference");
    let started = Instant::now();
    let r = output(&train_flags(&indices, &reference, &[]));
    assert!(r.status.success(), "{}", stderr(&r));
    let whole = started.elapsed();
    assert_eq!(timeless_metrics(&reference).len(), 3);

    // Kill points spread over the whole process, start-up and final report included; the first
    // is so early that no checkpoint (or even config.json) exists yet.
    let mut seed = 8u64;
    for trial in 0..4 {
        let out = dir.join(format!("trial{trial}"));
        let flags = train_flags(&indices, &out, &[]);
        let fraction = if trial == 0 {
            0.0
        } else {
            seed = trainer::mix(seed, trial);
            (seed % 1000) as f64 / 1000.0
        };
        let delay = whole.mul_f64(fraction);
        let mut child = purenoise(&flags)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Whatever the moment, a checkpoint present is a whole one.
        let last = out.join("last.safetensors");
        if last.exists() {
            checkpoint::load(&last).unwrap_or_else(|e| panic!("trial {trial}: {e}"));
        }
        finish(&flags, &out);
        assert_same_run(&reference, &out);
    }
    // SIGTERM: a checkpoint, exit 143, and a resumed run equal to the uninterrupted one.
    let out = dir.join("run");
    interrupt(&train_flags(&indices, &out, &[]), &out, libc::SIGTERM);
    let r = resume(&out);
    assert!(r.status.success(), "{}", stderr(&r));
    assert_same_run(&reference, &out);

    // A run killed before anything was written: --resume says what to do instead.
    let nothing = dir.join("nothing");
    std::fs::create_dir_all(&nothing).unwrap();
    let r = resume(&nothing);
    assert!(!r.status.success());
    let err = stderr(&r);
    assert!(
        err.contains(nothing.to_str().unwrap()) && err.contains("config.json is missing"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs `flags` until training has begun, sends `signal`, and checks the exit status (128 +
/// the signal), the message and the checkpoint it leaves.
fn interrupt(flags: &[String], out: &Path, signal: libc::c_int) {
    let mut child = purenoise(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = BufReader::new(child.stderr.take().unwrap());
    let lines = std::thread::spawn(move || {
        let mut all = String::new();
        for line in reader.lines() {
            let line = line.unwrap();
            let _ = tx.send(line.clone());
            all += &line;
            all.push('\n');
        }
        all
    });
    // Training has begun once the model line is printed (the handler is installed before).
    rx.iter()
        .find(|l| l.contains("training images"))
        .expect("the run starts");
    let pid = child.id() as libc::pid_t;
    // SAFETY: kill(2) with a live child's pid.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    let status = child.wait().unwrap();
    let err = lines.join().unwrap();
    assert_eq!(
        status.code(),
        Some(128 + signal),
        "signal {signal}: {status}\n{err}"
    );
    assert!(
        err.contains("interrupted at epoch")
            && err.contains(&format!("purenoise train --resume {}", out.display())),
        "{err}"
    );
    checkpoint::load(&out.join("last.safetensors")).unwrap();
}

#[test]
fn sigint_exits_130_after_a_checkpoint_and_max_steps_exits_0() {
    let (dir, indices) = setup("sigint");
    let out = dir.join("run");
    let flags = train_flags(&indices, &out, &["--epochs", "1"]);
    interrupt(&flags, &out, libc::SIGINT);
    // Resumed with a step limit: a deliberate stop, exit 0; then to the end.
    let r = output(&[
        "train".into(),
        "--resume".into(),
        out.display().to_string(),
        "--max-steps".into(),
        "1".into(),
    ]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    let r = resume(&out);
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(timeless_metrics(&out).len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn nan_policy_stop_names_the_layer_and_skip_leaves_no_trace() {
    let (dir, indices) = setup("nan");
    // A rate that makes the second step's loss non-finite.
    let huge = ["--lr", "1e30", "--epochs", "1"];

    let stop = dir.join("stop");
    let r = output(&train_flags(&indices, &stop, &huge));
    assert!(!r.status.success());
    let err = stderr(&r);
    assert_clean(&r, "nan stop");
    assert!(
        err.contains("the loss became NaN")
            && err.contains("at step 1 (epoch 0)")
            && err.contains("first non-finite gradient in `conv1.weight`"),
        "{err}"
    );

    // Skip: the run completes and its parameters, momentum and BN statistics are those after
    // the one finite step, as a run stopped right after it (--max-steps 1) has them.
    let skip = dir.join("skip");
    let r = output(&train_flags(
        &indices,
        &skip,
        &[&huge[..], &["--nan-policy", "skip"]].concat(),
    ));
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(
        stderr(&r).contains("2 steps were skipped for a non-finite loss"),
        "{}",
        stderr(&r)
    );
    assert_eq!(timeless_metrics(&skip)[0]["skipped_steps"], 2);
    let one = dir.join("one");
    let r = output(&train_flags(
        &indices,
        &one,
        &[&huge[..], &["--max-steps", "1"]].concat(),
    ));
    assert!(r.status.success(), "{}", stderr(&r));
    let a = checkpoint::load(&skip.join("last.safetensors")).unwrap();
    let b = checkpoint::load(&one.join("last.safetensors")).unwrap();
    assert_eq!(a.tensors, b.tensors);

    // A diverged run under skip stops after an epoch's worth of skipped steps in a row.
    let spin = dir.join("spin");
    let r = output(&train_flags(
        &indices,
        &spin,
        &["--lr", "1e30", "--epochs", "3", "--nan-policy", "skip"],
    ));
    assert!(!r.status.success());
    let err = stderr(&r);
    assert!(
        err.contains("3 steps in a row") && err.contains("last good checkpoint"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unwritable_run_folder_and_a_full_disk_are_refused_with_the_path() {
    let (dir, indices) = setup("disk");
    // A path under a regular file can never be created (root ignores permission bits).
    let file = dir.join("file");
    std::fs::write(&file, "x").unwrap();
    let out = file.join("run");
    let r = output(&train_flags(&indices, &out, &[]));
    assert!(!r.status.success());
    assert_clean(&r, "unwritable --out");
    let err = stderr(&r);
    assert!(err.contains(out.to_str().unwrap()), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");

    // Free space against what a run's checkpoints need, on this folder's real file system.
    files::check_free_space(&dir, 1).unwrap();
    let err = files::check_free_space(&dir.join("not-yet"), u64::MAX / 2)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not enough free space")
            && err.contains(dir.join("not-yet").to_str().unwrap())
            && err.contains("MB free"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn out_of_memory_names_the_step_the_numbers_and_the_intact_checkpoint() {
    let (dir, indices) = setup("oom");
    let out = dir.join("run");
    let r = output(&train_flags(&indices, &out, &["--max-steps", "3"]));
    assert!(r.status.success(), "{}", stderr(&r));
    let last = out.join("last.safetensors");
    let before = std::fs::read(&last).unwrap();

    // 2 MiB holds resnet-8's parameters, gradients and momentum (≈ 0.9 MiB), not a step.
    let r = output(&[
        "--memory-limit".into(),
        "2MiB".into(),
        "train".into(),
        "--resume".into(),
        out.display().to_string(),
    ]);
    assert!(!r.status.success());
    assert_clean(&r, "out of memory");
    let err = stderr(&r);
    for part in [
        "step 3 (epoch 1) failed: out of GPU memory",
        "a tensor of shape [8,",
        "--memory-limit of 2.0 MiB",
        "Parameters, gradients and momentum take",
        "--batch-size (8)",
        &format!("The last checkpoint, {}, is intact", last.display()),
        &format!("purenoise train --resume {}", out.display()),
    ] {
        assert!(err.contains(part), "missing `{part}` in:\n{err}");
    }
    assert_eq!(
        std::fs::read(&last).unwrap(),
        before,
        "the checkpoint changed"
    );

    // Without the cap the run goes on from that checkpoint.
    let r = resume(&out);
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(timeless_metrics(&out).len(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}
