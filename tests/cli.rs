//! The command line on bad input: a clear message naming the culprit, a non-zero exit, no panic
//! or backtrace, and nothing written.

use std::process::{Command, Output};

fn purenoise(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_purenoise"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
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

#[test]
fn bad_flags_are_named() {
    let dir = std::env::temp_dir().join(format!("purenoise-cli-{}", std::process::id()));
    let out = dir.to_str().unwrap();
    fails_with(
        &["train", "--bn", "batchnorm", "--out", out],
        &["'batchnorm'", "--bn", "darbn", "auxbn"],
    );
    fails_with(
        &["train", "--method", "smote", "--out", out],
        &["'smote'", "--method"],
    );
    fails_with(
        &["train", "--model", "vgg-16", "--out", out],
        &["--model `vgg-16`", "unknown model"],
    );
    fails_with(
        &["train", "--model", "wrn-27-10", "--out", out],
        &["6n + 4"],
    );
    fails_with(
        &["train", "--epochs", "0", "--out", out],
        &["--epochs", "at least 1"],
    );
    fails_with(
        &["train", "--lr", "-1", "--out", out],
        &["--lr", "positive"],
    );
    fails_with(
        &["train", "--dropout", "1.5", "--out", out],
        &["--dropout", "[0, 1)"],
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
        !dir.exists(),
        "a failed start must not create the run folder"
    );
}
